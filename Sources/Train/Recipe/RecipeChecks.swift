import Foundation
import Model

/// The checks of a decoded recipe that its types cannot express: one model source, steps or
/// epochs per stage, positive sizes, consistent strategies, an ordered task sequence, and data
/// files that exist. Each failure is a `RecipeError` at the line of the key at fault.
struct RecipeChecks {
    let recipe: Recipe
    let at: RecipeLocator

    func run() throws {
        try checkModel()
        guard !recipe.stages.isEmpty else { throw at.error(["stages"], "'stages' is empty") }
        guard recipe.saveTotalLimit >= 1 else { throw at.error(["save_total_limit"], "'save_total_limit' must be at least 1") }
        var names = Set<String>()
        for (i, stage) in recipe.stages.enumerated() {
            guard names.insert(stage.name).inserted else { throw at.error(["stages", String(i), "name"], "stage name '\(stage.name)' is used twice") }
            try checkStage(stage, index: i)
        }
        try checkSuites()
        try checkTasks()
        if let g = recipe.generate, let e = g.expect, e.count != g.prompts.count {
            throw at.error(["generate", "expect"], "'generate.expect' has \(e.count) entries for \(g.prompts.count) prompts")
        }
    }

    /// Exactly one of `model.base` (an existing checkpoint) and `model.architecture` (valid), a valid
    /// vision tower, and a tokenizer that exists.
    func checkModel() throws {
        switch (recipe.model.base, recipe.model.architecture) {
        case (nil, nil), (.some, .some):
            throw at.error(["model"], "'model' needs exactly one of 'base' (a checkpoint directory) or 'architecture'")
        case (let base?, nil):
            try at.requireFile(base + "/" + ModelDirectory.configFile, at: ["model", "base"], "'model.base': no checkpoint at \(base) (config.json missing)")
        case (nil, let architecture?):
            do { try architecture.validate(file: "'model.architecture'") } catch { throw at.error(["model", "architecture"], "\(error)") }
        }
        if let v = recipe.model.vision {
            switch (v.architecture, v.base) {
            case (nil, nil), (.some, .some):
                throw at.error(["model", "vision"], "'model.vision' needs exactly one of 'architecture' (a new tower) or 'base' (a pretrained Hugging Face tower)")
            case (let architecture?, nil):
                do { try architecture.validate(file: "'model.vision'") } catch { throw at.error(["model", "vision", "architecture"], "\(error)") }
            case (nil, let base?):
                try at.requireFile(base + "/" + ModelDirectory.configFile, at: ["model", "vision", "base"], "'model.vision.base': no model at \(base) (config.json missing)")
            }
            if let p = v.projector {
                try at.requireFile(p + "/" + ModelDirectory.configFile, at: ["model", "vision", "projector"], "'model.vision.projector': no checkpoint at \(p) (config.json missing)")
            }
            if let r = v.imageAspectRatio, !["pad", "square"].contains(r) {
                throw at.error(["model", "vision", "image_aspect_ratio"], "'image_aspect_ratio' must be pad or square, got '\(r)'")
            }
        }
        if recipe.tokenizer == nil && recipe.model.base == nil {
            throw RecipeError(file: at.file, "'tokenizer' is required when the model is initialised from an architecture")
        }
        if let t = recipe.tokenizer { try at.requireFile(t, at: ["tokenizer"], "'tokenizer': file not found: \(t)") }
    }

    /// Stage `index`: its name, a length, positive sizes and rate, data files, and its strategies' specs.
    func checkStage(_ s: Stage, index i: Int) throws {
        let p = ["stages", String(i)]
        guard s.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !s.name.isEmpty else {
            throw at.error(p + ["name"], "stage name '\(s.name)' may hold only letters, digits, '-' and '_'")
        }
        guard s.maxSteps != nil || s.numTrainEpochs != nil else { throw at.error(p, "stage '\(s.name)' needs 'max_steps' or 'num_train_epochs'") }
        for (key, value) in [("per_device_train_batch_size", s.batchSize), ("gradient_accumulation_steps", s.gradientAccumulationSteps),
                             ("model_max_length", s.modelMaxLength), ("logging_steps", s.loggingSteps),
                             ("max_steps", s.maxSteps ?? 1), ("save_steps", s.saveSteps ?? 1), ("eval_steps", s.evalSteps ?? 1)] where value < 1 {
            throw at.error(p + [key], "'\(key)' must be at least 1, got \(value)")
        }
        guard s.learningRate > 0, s.learningRate.isFinite else { throw at.error(p + ["learning_rate"], "'learning_rate' must be positive") }
        try checkOptimizer(s, path: p)
        guard !s.data.isEmpty else { throw at.error(p + ["data"], "stage '\(s.name)' has no data") }
        try s.replay?.validate(stageIndex: i, path: p, at)
        try s.distillation?.validate(stageIndex: i, path: p, at)
        try s.featureAugmentation?.validate(in: s, path: p, at)
        try s.ewc?.validate(stageIndex: i, path: p, at)
        try s.twoTeacher?.validate(path: p, at)
        for (key, list) in [("data", s.data), ("eval_data", s.evalData)] {
            for (j, d) in list.enumerated() {
                let path = p + [key, String(j), "path"]
                try at.requireFile(d.path, at: path, "'\(RecipeLocator.display(path))': data file not found: \(d.path)")
            }
        }
    }

    /// The optimizer's and schedule's values in their domains (AdamW's betas in [0, 1), a positive
    /// epsilon, non-negative clipping, decay, warmup and multipliers, finite everywhere), and
    /// sizes that fit the memory, before anything is allocated.
    func checkOptimizer(_ s: Stage, path p: [String]) throws {
        let domains: [(String, Float, (Float) -> Bool, String)] = [
            ("adam_beta1", s.adamBeta1, { $0 >= 0 && $0 < 1 }, "in [0, 1)"),
            ("adam_beta2", s.adamBeta2, { $0 >= 0 && $0 < 1 }, "in [0, 1)"),
            ("adam_epsilon", s.adamEpsilon, { $0 > 0 }, "positive"),
            ("max_grad_norm", s.maxGradNorm, { $0 >= 0 }, "at least 0 (0: no clipping)"),
            ("weight_decay", s.weightDecay, { $0 >= 0 }, "at least 0"),
            ("min_lr_ratio", s.minLRRatio, { $0 >= 0 && $0 <= 1 }, "in [0, 1]"),
        ]
        for (key, value, valid, domain) in domains where !(value.isFinite && valid(value)) {
            throw at.error(p + [key], "'\(key)' must be \(domain), got \(value)")
        }
        guard s.warmupSteps >= 0 else { throw at.error(p + ["warmup_steps"], "'warmup_steps' must be at least 0, got \(s.warmupSteps)") }
        for (pattern, m) in s.lrMultipliers.sorted(by: { $0.key < $1.key }) where !(m.isFinite && m >= 0) {
            throw at.error(p + ["lr_multipliers", pattern], "the learning-rate multiplier of '\(pattern)' must be a finite number at least 0, got \(m)")
        }
        if let epochs = s.numTrainEpochs, !(epochs.isFinite && epochs > 0 && epochs <= 1e6) {
            throw at.error(p + ["num_train_epochs"], "'num_train_epochs' must be in (0, 1e6], got \(epochs)")
        }
        // Every sequence of a step is allocated at once: bound the tokens of one micro-batch.
        let tokens = s.batchSize.multipliedReportingOverflow(by: s.modelMaxLength)
        guard !tokens.overflow, tokens.partialValue <= Self.maxBatchTokens else {
            throw at.error(p + ["per_device_train_batch_size"], "per_device_train_batch_size x model_max_length = \(s.batchSize) x \(s.modelMaxLength) tokens a step is above this project's limit of \(Self.maxBatchTokens)")
        }
        for (j, d) in s.data.enumerated() {
            if let w = d.weight, !(w.isFinite && w > 0 && w <= 1e6) {
                throw at.error(p + ["data", String(j), "weight"], "a data source's 'weight' must be in (0, 1e6], got \(w)")
            }
        }
    }

    /// The most tokens one micro-batch may hold (B·T): 2^20, about 1M.
    static let maxBatchTokens = 1 << 20

    /// Every suite exists, its metric fits its mode, and names differ.
    func checkSuites() throws {
        let suites = recipe.eval?.suites ?? []
        for (i, suite) in suites.enumerated() {
            let p = ["eval", "suites", String(i)]
            try at.requireFile(suite.path, at: p + ["path"], "'eval.suites[\(i)].path': suite not found: \(suite.path)")
            guard suite.metric == "acc" || (["acc_norm", "acc_bytes"].contains(suite.metric) && suite.mode == .continuation) else {
                throw at.error(p + ["metric"], "'metric' must be acc, or acc_norm or acc_bytes in continuation mode")
            }
        }
        if Set(suites.map(\.name)).count != suites.count { throw at.error(["eval", "suites"], "suite names must differ") }
    }

    /// A task sequence: row i of the accuracy matrix must be "after learning task i", in order,
    /// each stage and each suite once. (The one place `eval.tasks` is validated.)
    func checkTasks() throws {
        var lastStage = -1, seenSuites = Set<String>()
        for (i, task) in (recipe.eval?.tasks ?? []).enumerated() {
            let p = ["eval", "tasks", String(i)]
            guard let stage = recipe.stages.firstIndex(where: { $0.name == task.stage }) else {
                throw at.error(p + ["stage"], "no stage named '\(task.stage)' (stages: \(recipe.stages.map(\.name).joined(separator: ", ")))")
            }
            guard stage > lastStage else {
                throw at.error(p + ["stage"], "tasks must follow the stages' order, each stage once ('\(task.stage)' comes too late)")
            }
            guard recipe.eval!.suites.contains(where: { $0.name == task.suite }) else {
                throw at.error(p + ["suite"], "no suite named '\(task.suite)' in eval.suites")
            }
            guard seenSuites.insert(task.suite).inserted else { throw at.error(p + ["suite"], "suite '\(task.suite)' measures two tasks") }
            lastStage = stage
        }
    }
}
