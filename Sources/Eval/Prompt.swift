/// The MMLU prompt (Hendrycks et al.; lm-evaluation-harness's `mmlu` task):
///
///     The following are multiple choice questions (with answers) about {subject}.
///
///     {question}
///     A. {A}
///     B. {B}
///     C. {C}
///     D. {D}
///     Answer: {letter}
///
///     … (k examples) … then the item, ending in "Answer:".
public enum MMLUPrompt {
    public static func header(_ subject: String) -> String {
        "The following are multiple choice questions (with answers) about \(subject.replacingOccurrences(of: "_", with: " ")).\n\n"
    }

    /// One question with its lettered choices and "Answer:", followed by " X\n\n" when `withAnswer`.
    public static func format(_ item: MultipleChoiceItem, withAnswer: Bool) -> String {
        var s = item.question + "\n"
        for (i, c) in item.choices.enumerated() { s += "\(SuiteLoader.letters[i]). \(c)\n" }
        s += "Answer:"
        if withAnswer { s += " \(SuiteLoader.letters[item.answer])\n\n" }
        return s
    }

    public static func prompt(_ item: MultipleChoiceItem, examples: ArraySlice<MultipleChoiceItem>) -> String {
        header(item.subject) + examples.map { format($0, withAnswer: true) }.joined() + format(item, withAnswer: false)
    }
}
