/// Where a run's records go: `metrics.jsonl` and the TensorBoard event file under `runs/`.
final class RunLog {
    let metrics: MetricsLog
    let board: TensorBoardWriter

    /// Opens both in `outputDir`; a resumed run keeps the metrics through global step `keepThrough`.
    init(outputDir: String, keepThrough: Int) throws {
        metrics = try MetricsLog(path: outputDir + "/metrics.jsonl", keepThrough: keepThrough)
        board = try TensorBoardWriter(directory: outputDir + "/runs")
    }

    func write(_ record: StepRecord) throws {
        try metrics.write(record)
        try board.scalars(record.scalars, step: record.globalStep)
    }

    func write(_ record: EvalRecord) throws {
        try metrics.write(record)
        try board.scalars([("eval/loss", record.evalLoss)], step: record.globalStep)
    }
}
