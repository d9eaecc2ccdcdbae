import Tensor

extension MultimodalModel {
    /// A copy with weights of its own, as this model's are now (a teacher that stays while this
    /// model trains on). Costs the model's size again; its attached parts (adapters, Parrot's
    /// MoE) are those the config records.
    public func copy() -> MultimodalModel {
        let m = MultimodalModel(config: config)
        precondition(m.parameterSets.map(\.table) == parameterSets.map(\.table), "a copy laid out differently")
        for (to, from) in zip(m.parameterSets, parameterSets) { to.values.all.copy(from: from.values.all) }
        return m
    }
}
