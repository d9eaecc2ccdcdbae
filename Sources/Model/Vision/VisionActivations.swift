import Foundation
import Tensor

/// Buffers of one ViT block for N = B·T rows (T positions per image).
struct VisionBlockBuffers {
    let ln1: Tensor, mean1: Tensor, rstd1: Tensor   // (N, C), (N), (N)
    let q: Tensor, k: Tensor, v: Tensor             // (N, C)
    let att: Tensor                                 // (B, NH, T, T)
    let attY: Tensor                                // (N, C) before out_proj
    let h: Tensor                                   // (N, C) residual after attention
    let ln2: Tensor, mean2: Tensor, rstd2: Tensor   // (N, C), (N), (N)
    let fc1: Tensor                                 // (N, I) before GELU
    let act: Tensor                                 // (N, I) GELU(fc1)
    let out: Tensor                                 // (N, C) residual after the MLP

    init(rows N: Int, batch B: Int, positions T: Int, config c: VisionConfig, _ allocate: ([Int]) -> Tensor) {
        let C = c.hiddenSize, I = c.intermediateSize
        ln1 = allocate([N, C]); mean1 = allocate([N]); rstd1 = allocate([N])
        q = allocate([N, C]); k = allocate([N, C]); v = allocate([N, C])
        att = allocate([B, c.numAttentionHeads, T, T]); attY = allocate([N, C]); h = allocate([N, C])
        ln2 = allocate([N, C]); mean2 = allocate([N]); rstd2 = allocate([N])
        fc1 = allocate([N, I]); act = allocate([N, I]); out = allocate([N, C])
    }
}

/// Gradient scratch shared by all blocks during the backward pass.
struct VisionScratch {
    let dres: Tensor, dln: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, dattY: Tensor  // (N, C)
    let datt: Tensor                                                                 // (B, NH, T, T)
    let dfc1: Tensor, dact: Tensor                                                   // (N, I)

    init(rows N: Int, batch B: Int, positions T: Int, config c: VisionConfig, _ allocate: ([Int]) -> Tensor) {
        let C = c.hiddenSize, I = c.intermediateSize
        dres = allocate([N, C]); dln = allocate([N, C]); dq = allocate([N, C]); dk = allocate([N, C]); dv = allocate([N, C])
        dattY = allocate([N, C]); datt = allocate([B, c.numAttentionHeads, T, T]); dfc1 = allocate([N, I]); dact = allocate([N, I])
    }
}

/// Everything a forward/backward pass of the vision encoder keeps for B images, in one arena.
public final class VisionActivations: @unchecked Sendable {
    public let batch: Int
    public let arena: Arena
    /// (B, 3, S, S) preprocessed pixels; fill before `forward`.
    public let pixels: Tensor
    let patches: Tensor                   // (B·NP, 3·P·P) im2col of the pixels
    let patchOut: Tensor                  // (B·NP, C) patch embeddings
    let embeddings: Tensor                // (B·T, C) class token + patches + positions
    let preMean: Tensor, preRstd: Tensor  // (B·T) pre-LayerNorm statistics (CLIP)
    let x0: Tensor                        // (B·T, C) input of block 0
    let blocks: [VisionBlockBuffers]
    /// (B, F, C) selected features: the output of the selected block, CLS dropped for `patch`.
    public let features: Tensor
    /// (B, F, C) gradient of the features; fill before `backward`.
    public let featuresGradient: Tensor
    let scratch: VisionScratch

    init(encoder e: VisionEncoder, batch B: Int) {
        let c = e.config, C = c.hiddenSize, T = c.positions, N = B * T, NP = c.patchCount, P = c.patchSize
        batch = B
        typealias Layout = (pixels: Tensor, patches: Tensor, patchOut: Tensor, embeddings: Tensor, preMean: Tensor, preRstd: Tensor,
                            x0: Tensor, blocks: [VisionBlockBuffers], features: Tensor, featuresGradient: Tensor, scratch: VisionScratch)
        let (arena, l): (Arena, Layout) = Arena.build { allocate in
            (allocate([B, 3, c.imageSize, c.imageSize]), allocate([B * NP, 3 * P * P]), allocate([B * NP, C]), allocate([N, C]),
             allocate([N]), allocate([N]), allocate([N, C]),
             (0..<e.blockCount).map { _ in VisionBlockBuffers(rows: N, batch: B, positions: T, config: c, allocate) },
             allocate([B, e.featureCount, C]), allocate([B, e.featureCount, C]),
             VisionScratch(rows: N, batch: B, positions: T, config: c, allocate))
        }
        self.arena = arena
        (pixels, patches, patchOut, embeddings, preMean, preRstd, x0, blocks, features, featuresGradient, scratch) = l
    }
}
