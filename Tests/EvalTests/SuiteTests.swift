import Eval
import Model
import Foundation
import TestSupport
import Testing

struct SuiteTests {
    let dir = TestPaths.temporaryDirectory("suites")

    func write(_ name: String, _ text: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func mmluLayoutWithQuotedFields() throws {
        let suite = try SuiteLoader.load(TestPaths.fixture("mmlu_tiny"))
        #expect(suite.subjects.map(\.name) == ["second_subject", "toy_facts"])
        let items = suite.subjects[1].items
        #expect(items[0].question == "A question\nover two lines?")
        #expect(items[0].choices == ["yes", "no", "maybe, \"perhaps\"", "never"] && items[0].answer == 2)
        #expect(items[1].source.hasSuffix("toy_facts_test.csv:3"), "line numbers count the quoted newline")
        #expect(suite.examples["toy_facts"]?.count == 2 && suite.examples["second_subject"] == nil)
    }

    /// The letter prompt follows the MMLU protocol to the character.
    @Test func letterPromptIsExact() throws {
        let suite = try SuiteLoader.load(TestPaths.fixture("mmlu_tiny"))
        let item = suite.subjects[1].items[1]
        let prompt = MMLUPrompt.prompt(item, examples: suite.examples["toy_facts"]![...])
        #expect(prompt == """
            The following are multiple choice questions (with answers) about toy facts.

            What colour is the sky?
            A. Green
            B. Blue
            C. Red
            D. Black
            Answer: B

            Which, of these, is a number?
            A. Seven
            B. Cat
            C. Tree, tall
            D. Sky
            Answer: A

            Where does Rubok live?
            A. Velora
            B. Mirvon
            C. Tashkel
            D. Orbana
            Answer:
            """)
    }

    @Test func cmmluHeaderRow() throws {
        let path = write("cmmlu.csv", ",Question,A,B,C,D,Answer\n0,问题一,甲,乙,丙,丁,C\n1,\"问题,二\",甲,乙,丙,丁,A\n")
        let suite = try SuiteLoader.load(path)
        #expect(suite.subjects[0].name == "cmmlu" && suite.subjects[0].items.map(\.answer) == [2, 0])
        #expect(suite.subjects[0].items[1].question == "问题,二")
    }

    @Test func jsonlWithLettersIndicesAndSubjects() throws {
        let path = write("s.jsonl", """
            {"question": "Q1", "choices": ["a", "b"], "answer": 1, "subject": "x"}
            {"question": "Q2", "choices": ["a", "b", "c", "d", "e"], "answer": "E"}

            {"question": "Q3", "choices": ["a", "b", "c"], "answer": 0, "subject": "x", "delimiter": ""}
            """)
        let suite = try SuiteLoader.load(path)
        #expect(suite.subjects.map(\.name) == ["s", "x"])
        #expect(suite.subjects[0].items[0].answer == 4)
        #expect(suite.subjects[1].items.map(\.answer) == [1, 0] && suite.subjects[1].items[1].delimiter == "")
    }

    @Test func badAnswerLetter() {
        let path = write("bad_answer.csv", "Q1,a,b,c,d,A\nQ2,a,b,c,d,E\n")
        #expect(message { _ = try SuiteLoader.load(path) } == "\(path):2: answer \"E\" is not one of A, B, C, D")
    }

    @Test func wrongColumnCount() {
        let path = write("columns.csv", "Q1,a,b,c,d,A\nQ2,a,b,c,A\n")
        #expect(message { _ = try SuiteLoader.load(path) } == "\(path):2: expected 6 columns (question, A, B, C, D, answer), found 5")
    }

    @Test func emptyFile() {
        let path = write("empty.csv", "")
        #expect(message { _ = try SuiteLoader.load(path) } == "\(path): no questions")
        let jsonl = write("empty.jsonl", "\n\n")
        #expect(message { _ = try SuiteLoader.load(jsonl) } == "\(jsonl): no questions")
    }

    @Test func unterminatedQuote() {
        let path = write("quote.csv", "Q1,a,b,c,d,A\n\"Q2,a,b,c,d,A\n")
        #expect(message { _ = try SuiteLoader.load(path) } == "\(path):2: unterminated quoted field")
    }

    @Test func badJSONLAnswers() {
        let range = write("range.jsonl", "{\"question\": \"Q\", \"choices\": [\"a\", \"b\"], \"answer\": 2}\n")
        #expect(message { _ = try SuiteLoader.load(range) } == "\(range):1: 'answer' must be an index 0..<2 or a letter A..B")
        let few = write("few.jsonl", "{\"question\": \"Q\", \"choices\": [\"a\"], \"answer\": 0}\n")
        #expect(message { _ = try SuiteLoader.load(few) } == "\(few):1: 'choices' must be a list of 2 to 10 strings")
        let notJSON = write("nj.jsonl", "{\"question\": \"Q\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n{oops\n")
        #expect(message { _ = try SuiteLoader.load(notJSON) } == "\(notJSON):2: not a JSON object")
    }

    @Test func missingSplitNamesTheFolders() {
        let m = message { _ = try SuiteLoader.load(TestPaths.fixture("mmlu_tiny"), split: "val") }
        #expect(m.contains("no 'val' split (folders: dev, test)"), "\(m)")
    }

    @Test(.enabled(if: TestPaths.sharedAvailable, "../shared absent: skipping the MMLU parse test"))
    func realMMLUParsesInFull() throws {
        let suite = try SuiteLoader.load(TestPaths.shared + "/data/mmlu", split: "val")
        #expect(suite.subjects.count == 57)
        for s in suite.subjects {
            #expect(!s.items.isEmpty && suite.examples[s.name]?.count == 5, "\(s.name)")
            #expect(s.items.allSatisfy { $0.choices.count == 4 })
        }
        let item = suite.subjects[0].items[0]
        let prompt = MMLUPrompt.prompt(item, examples: suite.examples[item.subject]![...])
        #expect(prompt.hasPrefix("The following are multiple choice questions (with answers) about abstract algebra.\n\n"))
        #expect(prompt.components(separatedBy: "\nAnswer: ").count == 6 && prompt.hasSuffix("\nAnswer:"))
    }

    /// MMMB-style TSV: header-named columns (extra ones ignored), options as letter columns
    /// (trailing empty ones dropped) or a JSON list, images relative to the file, language and category.
    @Test func mmmbStyleTSV() throws {
        let path = write("mmmb.tsv", """
            index\tquestion\tA\tB\tC\tD\tanswer\tcategory\tlanguage\timage_path
            0\tWhat color?\tred\tblue\tgreen\twhite\tB\tcolor\ten\timages/a.png
            1\tКакой формы?\tкруг\tквадрат\tтреугольник\t\tc\tshape\tru\t/abs/b.png

            """)
        let suite = try SuiteLoader.load(path)
        #expect(suite.isMultimodal && suite.subjects.map(\.name) == ["color", "shape"])
        let color = suite.subjects[0].items[0], shape = suite.subjects[1].items[0]
        #expect(color.choices == ["red", "blue", "green", "white"] && color.answer == 1 && color.language == "en")
        #expect(color.image == dir + "/images/a.png")
        #expect(shape.choices.count == 3 && shape.answer == 2 && shape.image == "/abs/b.png" && shape.language == "ru")
        let list = write("list.tsv", "question\toptions\tanswer\nQ?\t[\"x\", \"y\"]\tA\n")
        #expect(try SuiteLoader.load(list).subjects[0].items[0].choices == ["x", "y"])
        let bad = write("bad.tsv", "question\tA\tB\tanswer\nQ?\tx\ty\tE\n")
        #expect(message { _ = try SuiteLoader.load(bad) } == "\(bad):2: 'answer' \"E\" is not a letter A..B")
        let short = write("short.tsv", "question\tA\tB\tanswer\nQ?\tx\tA\n")
        #expect(message { _ = try SuiteLoader.load(short) } == "\(short):2: 3 fields, the header has 4")
        let base64 = write("b64.tsv", "question\tA\tB\tanswer\timage\nQ?\tx\ty\tA\tiVBOR\n")
        #expect(message { _ = try SuiteLoader.load(base64) }.contains("'image_path' column"))
    }

    /// The router report averages each language's routing weights per expert, and their entropy.
    @Test func routerReportMeans() {
        func r(_ w: [Float]) -> ParrotRoute { ParrotRoute(weights: w, guide: [0]) }
        let report = RouterReport([("en", r([0.5, 0.5])), ("zh", r([1, 0])), ("en", r([0.7, 0.3]))])
        #expect(report.languages == ["en", "zh"] && report.counts == [2, 1])
        #expect(abs(report.mean[0][0] - 0.6) < 1e-6 && abs(report.mean[0][1] - 0.4) < 1e-6 && report.mean[1] == [1, 0])
        // H(0.5, 0.5) = ln 2 = 0.693147; H(0.7, 0.3) = 0.610864; zh: one expert, 0.
        #expect(abs(report.entropy[0] - (0.693_147 + 0.610_864) / 2) < 1e-5 && report.entropy[1] == 0)
        #expect(report.guideCentroidAccuracy == nil)  // zh has one image: no leave-one-out centroid
        #expect(report.markdown().contains("| zh | 1 | 1.000 | 0.000 | 0.000 | – |"), "\(report.markdown())")
        #expect(report.svg().hasPrefix("<svg") && report.svg().contains(">E1</text>"))
    }

    /// g's leave-one-out nearest-centroid accuracy, worked by hand on the line.
    /// en at 0, 1, 2 and zh at 10, 11, 4: without it, zh's 4 has centroid 10.5 (distance 6.5)
    /// against en's 1 (distance 3): wrong; every other point is nearest its own centroid. 5/6.
    @Test func guideCentroidAccuracy() throws {
        func r(_ g: Float) -> ParrotRoute { ParrotRoute(weights: [1], guide: [g]) }
        let report = RouterReport([("en", r(0)), ("en", r(1)), ("en", r(2)), ("zh", r(10)), ("zh", r(11)), ("zh", r(4))])
        #expect(report.guideAccuracy == [1, 2.0 / 3])
        #expect(abs(try #require(report.guideCentroidAccuracy) - 5.0 / 6) < 1e-12)
        // Centroids 1 and 25/3: 22/3 apart; mean |g| = 28/6.
        let separation = try #require(report.guideSeparation), expected: Double = (22.0 / 3) / (28.0 / 6)
        #expect(abs(separation - expected) < 1e-12)
        #expect(report.markdown().contains("0.833 of 6 images (chance 0.500); the languages' centroids lie 1.571 of ‖g‖ apart"), "\(report.markdown())")
    }

    /// The trace keeps the last probe per global step and tabulates each language's entropy.
    @Test func routerTraceRoundTrip() throws {
        let path = TestPaths.temporaryDirectory("trace") + "/router_trace.jsonl"
        func report(_ w: Float) -> RouterReport { RouterReport([("en", ParrotRoute(weights: [w, 1 - w], guide: [0])), ("en", ParrotRoute(weights: [w, 1 - w], guide: [1]))]) }
        try RouterTraceEntry.append(RouterTraceEntry(stage: "instruct", step: 0, globalStep: 10, report: report(0.5)), to: path)
        try RouterTraceEntry.append(RouterTraceEntry(stage: "instruct", step: 5, globalStep: 15, report: report(0.9)), to: path)
        try RouterTraceEntry.append(RouterTraceEntry(stage: "instruct", step: 5, globalStep: 15, report: report(1)), to: path)  // resumed
        let entries = try RouterTraceEntry.load(path)
        #expect(entries.map(\.globalStep) == [10, 15] && entries[1].router.entropy == [0])
        let table = RouterTraceEntry.markdown(entries)
        #expect(table.contains("| instruct | 0 | 0.693 | – | – |") && table.contains("| instruct | 5 | 0.000 | – | – |"), "\(table)")
    }

    /// A 100 KB question is refused by name before anything tokenizes it.
    @Test func overlongFieldIsRefused() throws {
        let dir = TestPaths.temporaryDirectory("long")
        let line = "{\"question\": \"" + String(repeating: "x", count: 100_000) + "\", \"choices\": [\"a\", \"b\"], \"answer\": 0}"
        try line.write(toFile: dir + "/long.jsonl", atomically: true, encoding: .utf8)
        var m = "no error"
        do { _ = try SuiteLoader.load(dir + "/long.jsonl") } catch { m = "\(error)" }
        #expect(m.contains("long.jsonl:1: question of 100000 bytes is longer than the limit of 65536"), "\(m)")
    }
}

