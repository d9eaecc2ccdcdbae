import Foundation
import Tokenizer
import Tensor

/// Imports a llama2.c checkpoint (`.bin`: 7 int32 header, then float32 weights).
///
/// Header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: a separate
/// classifier follows), seq_len. Weights in order: token embedding (V, C); rms_att (L, C);
/// wq (L, C, C); wk (L, KC, C); wv (L, KC, C); wo (L, C, C); rms_ffn (L, C); w1 (L, I, C);
/// w2 (L, C, I); w3 (L, I, C); rms_final (C); two legacy RoPE tables (seq_len, D/2) each;
/// [wcls (V, C)].
///
/// llama2.c rotates interleaved pairs (x0,x1),(x2,x3)…; Hugging Face's decoder rotates halves
/// (xᵢ, x_{i+D/2}). Permuting the rows of each head of wq and wk — row 2i+j goes to j·D/2 + i,
/// as Hugging Face's own conversion script does — makes the two compute the same function.
public enum Llama2cImporter {
    public static func load(path: String, ropeTheta: Float = 10000, rmsNormEps: Float = 1e-5) throws -> DecoderModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError("\(path): llama2.c checkpoint not found")
        }
        guard data.count >= 28 else { throw ModelError("\(path): truncated: no 28-byte llama2.c header") }
        let header: [Int] = (0..<7).map { i in
            Int(data.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) })
        }
        let (dim, hidden, layers, heads, kvHeads, signedVocab, seqLen) = (header[0], header[1], header[2], header[3], header[4], header[5], header[6])
        let vocab = abs(signedVocab), shared = signedVocab > 0
        let names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]
        for (name, value) in zip(names, [dim, hidden, layers, heads, kvHeads, vocab, seqLen]) where value <= 0 || value > 1 << 20 {
            throw ModelError("\(path): header field \(name) = \(value) is not a plausible size")
        }
        guard dim % heads == 0, heads % kvHeads == 0, (dim / heads) % 2 == 0 else {
            throw ModelError("\(path): dim \(dim), n_heads \(heads), n_kv_heads \(kvHeads) do not form whole, even heads")
        }
        let config = DecoderConfig(modelType: "llama", hiddenSize: dim, numHiddenLayers: layers, numAttentionHeads: heads,
                                   numKeyValueHeads: kvHeads, intermediateSize: hidden, vocabSize: vocab, ropeTheta: ropeTheta,
                                   rmsNormEps: rmsNormEps, tieWordEmbeddings: shared, maxPositionEmbeddings: seqLen)
        // Within the documented bounds and memory before any product of sizes is taken (the
        // header's 2^20 per field would overflow the byte count below).
        try config.checkSizes(file: path)
        let D = dim / heads, KC = kvHeads * D
        let floatsPerLayer = dim + dim * dim + 2 * KC * dim + dim * dim + dim + 3 * hidden * dim
        let expected = vocab * dim + layers * floatsPerLayer + dim + seqLen * D + (shared ? 0 : vocab * dim)
        guard data.count == 28 + 4 * expected else {
            throw ModelError("\(path): \(data.count) bytes, but the header describes \(28 + 4 * expected)")
        }

        let decoder = DecoderModel(config: config)
        let p = decoder.parameters
        var offset = 28
        data.withUnsafeBytes { raw in
            /// Copies the next `count` floats into `dst` at `dstOffset`.
            func take(_ dst: Tensor, at dstOffset: Int = 0, count: Int? = nil) {
                let n = count ?? dst.count
                for i in 0..<n {
                    dst.data[dstOffset + i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self)))
                }
                offset += 4 * n
            }
            /// Reads `rows` × C rows of a q/k projection, permuting each head from interleaved to rotate-half order.
            func takeRotary(_ dst: Tensor, rows: Int) {
                for r in 0..<rows {
                    let head = r / D, within = r % D
                    let target = head * D + (within % 2) * (D / 2) + within / 2
                    take(dst, at: target * dim, count: dim)
                }
            }
            take(p.value("model.embed_tokens.weight"))
            let l = (0..<layers).map { "model.layers.\($0)." }
            for i in 0..<layers { take(p.value(l[i] + "input_layernorm.weight")) }
            for i in 0..<layers { takeRotary(p.value(l[i] + "self_attn.q_proj.weight"), rows: dim) }
            for i in 0..<layers { takeRotary(p.value(l[i] + "self_attn.k_proj.weight"), rows: KC) }
            for i in 0..<layers { take(p.value(l[i] + "self_attn.v_proj.weight")) }
            for i in 0..<layers { take(p.value(l[i] + "self_attn.o_proj.weight")) }
            for i in 0..<layers { take(p.value(l[i] + "post_attention_layernorm.weight")) }
            for i in 0..<layers { take(p.value(l[i] + "mlp.gate_proj.weight")) }
            for i in 0..<layers { take(p.value(l[i] + "mlp.down_proj.weight")) }
            for i in 0..<layers { take(p.value(l[i] + "mlp.up_proj.weight")) }
            take(p.value("model.norm.weight"))
            offset += 4 * seqLen * D  // legacy freq_cis_real and freq_cis_imag: (seq_len, D/2) each
            if !shared { take(p.value("lm_head.weight")) }
        }
        return decoder
    }

    /// `mllm-cl convert llama2c`: writes a Hugging Face-style directory.
    public static func convert(model: String, tokenizer: String, output: String) throws -> DecoderModel {
        guard FileManager.default.fileExists(atPath: tokenizer) else {
            throw ModelError("\(tokenizer): tokenizer model not found")
        }
        // The tokenizer must be a SentencePiece model whose ids all have an embedding row.
        let pieces: any TextTokenizer
        do { pieces = try TokenizerFiles.load(path: tokenizer) } catch { throw ModelError("\(tokenizer): not a tokenizer (\(error))") }
        let decoder = try load(path: model)
        try ModelDirectory.checkVocabulary(pieces, vocabSize: decoder.config.vocabSize, directory: model)
        try ModelDirectory.save(decoder, to: output, tokenizer: tokenizer, metadata: ["source": "llama2.c"])
        return decoder
    }
}
