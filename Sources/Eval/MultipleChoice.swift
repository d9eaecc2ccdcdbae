/// One multiple-choice question.
public struct MultipleChoiceItem: Sendable, Equatable {
    public var question: String
    public var choices: [String]
    /// Index of the right choice.
    public var answer: Int
    public var subject: String
    /// Put between the question and a choice in continuation scoring (lm-evaluation-harness: " ").
    public var delimiter: String
    /// Where it came from, for messages (`file:line`).
    public var source: String
    /// Multimodal items: the image (an absolute path) and the question's language.
    public var image: String?
    public var language: String?

    public init(question: String, choices: [String], answer: Int, subject: String, delimiter: String = " ", source: String = "",
                image: String? = nil, language: String? = nil) {
        self.question = question
        self.choices = choices
        self.answer = answer
        self.subject = subject
        self.delimiter = delimiter
        self.source = source
        self.image = image
        self.language = language
    }
}

/// A suite: per subject, the scored items and (MMLU layout) the few-shot examples.
public struct MultipleChoiceSuite: Sendable {
    public var name: String
    /// Scored items by subject, subjects sorted.
    public var subjects: [(name: String, items: [MultipleChoiceItem])]
    /// Few-shot examples by subject (`dev/`), possibly empty.
    public var examples: [String: [MultipleChoiceItem]]

    public var itemCount: Int { subjects.reduce(0) { $0 + $1.items.count } }
    /// Whether any item comes with an image.
    public var isMultimodal: Bool { subjects.contains { $0.items.contains { $0.image != nil } } }

    public init(name: String, subjects: [(name: String, items: [MultipleChoiceItem])], examples: [String: [MultipleChoiceItem]] = [:]) {
        self.name = name
        self.subjects = subjects
        self.examples = examples
    }
}

/// How items are scored (as lm-evaluation-harness does).
public enum ScoringMode: String, Codable, Sendable, CaseIterable {
    /// MMLU: a k-shot prompt ending in `Answer:`; the choice whose letter (" A", " B", ...) is most likely next.
    case letter
    /// The log-likelihood of each choice's text after the question: `acc` (sum), `acc_norm` (sum / characters) and `acc_bytes` (sum / UTF-8 bytes).
    case continuation
}
