import ArgumentParser
import Model

/// The options of every command that loads a checkpoint's weights.
struct WeightOptions: ParsableArguments {
    @Flag(help: "Load tensors holding NaN or infinite values with a warning naming each (default: refuse them).")
    var allowNonFiniteWeights = false

    /// Sets the process's loading policy; call before loading.
    func apply() {
        NonFiniteWeights.policy = allowNonFiniteWeights ? .report : .refuse
    }
}
