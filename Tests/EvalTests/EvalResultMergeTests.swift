import Eval
import Testing

/// `EvalResult.merged`: several suites' results pooled as scoring their items together gives.
struct EvalResultMergeTests {
    @Test func poolsCountsBySubjectAndLanguage() {
        // en: color 3/4 (acc_norm 2/4), count 1/2; zh: color 1/4 (acc_norm 4/4), count 2/2.
        let en = EvalResult(model: "m", suite: "en", mode: .continuation, shots: 0,
                            overall: Score(acc: 4.0 / 6, accNorm: 3.0 / 6, accBytes: 3.0 / 6, n: 6), macroAcc: 0.625,
                            subjects: ["color": Score(acc: 0.75, accNorm: 0.5, accBytes: 0.5, n: 4), "count": Score(acc: 0.5, accNorm: 0.5, accBytes: 0.5, n: 2)],
                            languages: ["en": Score(acc: 4.0 / 6, accNorm: 3.0 / 6, accBytes: 3.0 / 6, n: 6)], seconds: 2)
        let zh = EvalResult(model: "m", suite: "zh", mode: .continuation, shots: 0,
                            overall: Score(acc: 3.0 / 6, accNorm: 1, accBytes: 1, n: 6), macroAcc: 0.625,
                            subjects: ["color": Score(acc: 0.25, accNorm: 1, accBytes: 1, n: 4), "count": Score(acc: 1, accNorm: 1, accBytes: 1, n: 2)],
                            languages: ["zh": Score(acc: 0.5, accNorm: 1, accBytes: 1, n: 6)], seconds: 1)
        let m = EvalResult.merged([en, zh], suite: "multimodal", model: "after")
        #expect(m.suite == "multimodal" && m.model == "after" && m.overall.n == 12)
        #expect(m.overall.acc == 7.0 / 12 && m.overall.accNorm == 9.0 / 12)
        #expect(m.subjects["color"] == Score(acc: 4.0 / 8, accNorm: 6.0 / 8, accBytes: 6.0 / 8, n: 8))
        #expect(m.subjects["count"] == Score(acc: 3.0 / 4, accNorm: 3.0 / 4, accBytes: 3.0 / 4, n: 4))
        #expect(m.macroAcc == (0.5 + 0.75) / 2)
        #expect(m.languages?["en"] == en.overall && m.languages?["zh"]?.acc == 0.5)
        #expect(m.seconds == 3)
    }
}
