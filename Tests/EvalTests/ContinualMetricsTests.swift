import Eval
import Testing

/// The continual-learning metrics against values worked out by hand.
struct ContinualMetricsTests {
    /// Three tasks:            t0    t1    t2
    ///   after t0             0.90  0.20  0.30
    ///   after t1             0.60  0.80  0.40
    ///   after t2             0.50  0.70  0.90
    /// average accuracy = (0.90 + (0.60+0.80)/2 + (0.50+0.70+0.90)/3) / 3 = (0.90 + 0.70 + 0.70) / 3 = 0.76667
    /// last accuracy    = (0.50 + 0.70 + 0.90) / 3 = 0.70
    /// BWT              = ((0.50−0.90) + (0.70−0.80)) / 2 = (−0.40 − 0.10) / 2 = −0.25
    /// forgetting       = (max(0.90, 0.60) − 0.50 + max(0.80) − 0.70) / 2 = (0.40 + 0.10) / 2 = 0.25
    @Test func handWorkedMatrix() {
        let m = ContinualMetrics(tasks: ["t0", "t1", "t2"], accuracy: [[0.9, 0.2, 0.3], [0.6, 0.8, 0.4], [0.5, 0.7, 0.9]])
        #expect(abs(m.averageAccuracy - 0.766_666_7) < 1e-6)
        #expect(abs(m.lastAccuracy - 0.70) < 1e-12)
        #expect(abs(m.backwardTransfer! - -0.25) < 1e-12)
        #expect(abs(m.forgetting! - 0.25) < 1e-12)
        #expect(m.markdown().contains("| backward transfer (BWT) | -0.2500 |"))
    }

    /// Forgetting takes the best earlier accuracy, not the one right after learning; a task that
    /// improved later counts as positive transfer and zero-or-negative forgetting.
    ///   after a   0.50  0.10
    ///   after b   0.70  0.60      BWT = 0.70 − 0.50 = +0.20;  forgetting = 0.50 − 0.70 = −0.20
    @Test func positiveTransferAndSingleTask() {
        let m = ContinualMetrics(tasks: ["a", "b"], accuracy: [[0.5, 0.1], [0.7, 0.6]])
        #expect(abs(m.backwardTransfer! - 0.2) < 1e-12 && abs(m.forgetting! - -0.2) < 1e-12)
        let one = ContinualMetrics(tasks: ["a"], accuracy: [[0.8]])
        #expect(one.backwardTransfer == nil && one.forgetting == nil && one.lastAccuracy == 0.8 && one.averageAccuracy == 0.8)
    }
}
