/// How a multimodal checkpoint names its tensors. This project keeps the decoder under the
/// names of a text-only checkpoint, so one loads into the other; transformers'
/// LlavaForConditionalGeneration has used two layouts:
///
/// | part | `native` (this project) | `llava` (`save_pretrained`) | `llavaNested` (transformers ≥ 4.52's modules) |
/// |---|---|---|---|
/// | decoder | `model.*` | `language_model.model.*` | `model.language_model.*` |
/// | LM head | `lm_head.*` | `language_model.lm_head.*` | `lm_head.*` |
/// | tower | `vision_tower.*` | `vision_tower.*` | `model.vision_tower.*` |
/// | projector | `multi_modal_projector.*` | `multi_modal_projector.*` | `model.multi_modal_projector.*` |
public enum WeightLayout: String, Sendable, CaseIterable {
    case native, llava, llavaNested

    /// The layout whose names `names` use (`native` when neither LLaVA prefix occurs).
    public static func detect(_ names: [String]) -> WeightLayout {
        if names.contains(where: { $0.hasPrefix("language_model.") }) { return .llava }
        if names.contains(where: { $0.hasPrefix("model.language_model.") || $0.hasPrefix("model.vision_tower.") }) { return .llavaNested }
        return .native
    }

    private var rules: [(stored: String, native: String)] {
        switch self {
        case .native: []
        case .llava: [("language_model.model.", "model."), ("language_model.lm_head.", "lm_head.")]
        case .llavaNested: [("model.language_model.", "model."), ("model.vision_tower.", "vision_tower."),
                            ("model.multi_modal_projector.", "multi_modal_projector.")]
        }
    }

    /// This project's name for `stored`, a name in a checkpoint of this layout.
    public func internalName(_ stored: String) -> String {
        for r in rules where stored.hasPrefix(r.stored) { return r.native + stored.dropFirst(r.stored.count) }
        return stored
    }

    /// The name this layout gives this project's tensor `name`.
    public func storedName(_ name: String) -> String {
        for r in rules where name.hasPrefix(r.native) {
            return r.stored + name.dropFirst(r.native.count)
        }
        return name
    }
}
