import Foundation

/// A small two-stage recipe over a generated toy world, for training tests.
public enum TinyRecipe {
    /// The small decoder both recipes train (YAML, indented under `model:`).
    static let decoder = """
          architecture:
            model_type: llama
            hidden_size: 32
            num_hidden_layers: 2
            num_attention_heads: 4
            num_key_value_heads: 2
            intermediate_size: 64
            vocab_size: 521
            max_position_embeddings: 64
        """

    /// Writes the toy world's data into `directory/data` (via `writeData`) and returns recipe YAML
    /// training into `directory/out`.
    public static func yaml(directory: String, pretrainSteps: Int = 6, chatSteps: Int = 4, saveSteps: Int = 3) -> String {
        """
        model:
        \(decoder)
        tokenizer: \(TestPaths.root)/tokenizers/toyworld.model
        output_dir: \(directory)/out
        seed: 3
        save_total_limit: 2
        stages:
          - name: pretrain
            data:
              - path: \(directory)/data/corpus.jsonl
            per_device_train_batch_size: 4
            model_max_length: 32
            max_steps: \(pretrainSteps)
            learning_rate: 3.0e-3
            warmup_steps: 2
            save_steps: \(saveSteps)
          - name: chat
            template: chatml
            data:
              - path: \(directory)/data/conversations.json
              - path: \(directory)/data/corpus.jsonl
                weight: 0.5
            per_device_train_batch_size: 4
            gradient_accumulation_steps: 2
            model_max_length: 48
            max_steps: \(chatSteps)
            learning_rate: 1.0e-3
            save_steps: 2
        """
    }

    /// A text stage, then vision, align and instruct stages on toy scenes written to `directory/scenes`.
    public static func multimodalYAML(directory: String) -> String {
        """
        model:
        \(decoder)
          vision:
            architecture: {hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, image_size: 16, patch_size: 8}
            mm_projector_type: mlp2x_gelu
        tokenizer: \(TestPaths.root)/tokenizers/toyworld.model
        output_dir: \(directory)/out
        seed: 4
        stages:
          - name: text
            data: [{path: \(directory)/data/corpus.jsonl}]
            per_device_train_batch_size: 4
            model_max_length: 32
            max_steps: 2
            learning_rate: 3.0e-3
          - name: vision
            kind: vision
            data: [{path: \(directory)/scenes/captions.json}]
            per_device_train_batch_size: 4
            model_max_length: 48
            max_steps: 2
            learning_rate: 1.0e-3
          - name: align
            kind: align
            data: [{path: \(directory)/scenes/captions.json}]
            per_device_train_batch_size: 4
            model_max_length: 48
            max_steps: 2
            learning_rate: 1.0e-3
          - name: instruct
            kind: instruct
            data: [{path: \(directory)/scenes/conversations.json}, {path: \(directory)/data/conversations.json, weight: 0.1}]
            per_device_train_batch_size: 4
            model_max_length: 48
            max_steps: 4
            learning_rate: 1.0e-3
            save_steps: 2
        """
    }
}
