import Foundation

/// Wings' modality learners on a decoder (`config.json` key `wings`; a recipe's `model.wings`).
///
/// Each chosen layer gets a visual and a textual learner (`LoRRA`) and a router (`WingsRouter`);
/// their tensors are named `model.layers.N.wings.{visual,textual}.{q,k,v,o}_proj.lora_{A,B}.weight`
/// and `model.layers.N.wings.router.{weight,bias}`.
public struct WingsConfig: Codable, Sendable, Equatable {
    /// Rank r of every low-rank residual (the paper uses 64 at 7B scale, d = 4096).
    public var rank: Int
    /// Layers that get learners (nil: all).
    public var layers: [Int]?
    /// The router reads the main attention's weights of a query over the first `routerMaxKeys`
    /// key positions (shorter rows are zero-padded, longer ones truncated).
    public var routerMaxKeys: Int
    /// Standard deviation of the (truncated) normal that initialises the A matrices and the router.
    public var initializerRange: Float

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case rank, layers, routerMaxKeys = "router_max_keys", initializerRange = "initializer_range"
    }

    public init(rank: Int, layers: [Int]? = nil, routerMaxKeys: Int, initializerRange: Float = 0.02) {
        self.rank = rank
        self.layers = layers
        self.routerMaxKeys = routerMaxKeys
        self.initializerRange = initializerRange
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rank = try c.decode(Int.self, forKey: .rank)
        layers = try c.decodeIfPresent([Int].self, forKey: .layers)
        routerMaxKeys = try c.decodeIfPresent(Int.self, forKey: .routerMaxKeys) ?? 256
        initializerRange = try c.decodeIfPresent(Float.self, forKey: .initializerRange) ?? 0.02
    }

    /// The layers with learners in a decoder of `count` layers, ascending.
    public func chosenLayers(of count: Int) -> [Int] { layers.map { Array(Set($0)).sorted() } ?? Array(0..<count) }

    public func validate(file: String, layerCount: Int) throws {
        guard rank > 0 else { throw ModelError("\(file): 'wings.rank' must be positive, got \(rank)") }
        guard routerMaxKeys > 0 else { throw ModelError("\(file): 'wings.router_max_keys' must be positive, got \(routerMaxKeys)") }
        if let bad = layers?.first(where: { !(0..<layerCount).contains($0) }) {
            throw ModelError("\(file): 'wings.layers' names layer \(bad); the decoder has layers 0...\(layerCount - 1)")
        }
    }
}

extension WingsConfig: DecoderAdapterSpec {
    public func attach(to config: DecoderConfig, table: inout ParameterTableBuilder) -> any DecoderAdapter {
        WingsAdapter(config: self, decoder: config, table: &table)
    }

    public func recorded(in config: DecoderConfig) -> DecoderConfig {
        var c = config
        c.wings = self
        return c
    }
}
