import Foundation
import Support
import Tensor

/// A small invented world whose facts are stated in six languages: the project's own
/// training and evaluation data, generated deterministically from a seed (no downloads).
///
/// Each entity is an animal with a name, a kind, a colour, a home city and a favourite food.
/// Statements and questions come from per-language templates, so the same fact can be taught
/// in one language and tested in another.
public struct ToyWorld: Sendable {
    public static let languages = ["en", "zh", "pt", "ar", "tr", "ru"]

    /// The attributes every entity has, in the order they are stated.
    public enum Attribute: String, CaseIterable, Codable, Sendable { case kind, color, city, food }

    public struct Entity: Codable, Sendable, Equatable {
        public let name: String
        /// Index into the attribute's value list, per attribute.
        public let values: [String: Int]
        public func value(_ a: Attribute) -> Int { values[a.rawValue]! }
    }

    public let seed: UInt64
    public let entities: [Entity]

    /// `count` entities with distinct names and seeded attributes.
    public init(seed: UInt64 = 7, entities count: Int = 48) {
        self.seed = seed
        var rng = SeededGenerator(seed: seed)
        let onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
        let vowels = ["a", "e", "i", "o", "u"]
        let codas = ["", "n", "r", "l", "k", "m"]
        var names = Set<String>(), list: [Entity] = []
        while list.count < count {
            var name = ""
            for _ in 0..<2 {
                name += onsets[Int(rng.next() % UInt64(onsets.count))] + vowels[Int(rng.next() % UInt64(vowels.count))]
            }
            name += codas[Int(rng.next() % UInt64(codas.count))]
            name = name.prefix(1).uppercased() + name.dropFirst()
            guard names.insert(name).inserted else { continue }
            var values: [String: Int] = [:]
            for a in Attribute.allCases { values[a.rawValue] = Int(rng.next() % UInt64(Self.words[a]!["en"]!.count)) }
            list.append(Entity(name: name, values: values))
        }
        entities = list
    }

    // MARK: - Vocabulary and templates

    /// Attribute values per language (cities are invented names, the same everywhere).
    public static let words: [Attribute: [String: [String]]] = [
        .kind: ["en": ["fox", "bear", "owl", "cat", "horse", "rabbit"],
                "zh": ["狐狸", "熊", "猫头鹰", "猫", "马", "兔子"],
                "pt": ["raposa", "urso", "coruja", "gato", "cavalo", "coelho"],
                "ar": ["ثعلب", "دب", "بومة", "قطة", "حصان", "أرنب"],
                "tr": ["tilki", "ayı", "baykuş", "kedi", "at", "tavşan"],
                "ru": ["лиса", "медведь", "сова", "кошка", "лошадь", "кролик"]],
        .color: ["en": ["red", "blue", "green", "yellow", "white", "black"],
                 "zh": ["红色", "蓝色", "绿色", "黄色", "白色", "黑色"],
                 "pt": ["vermelho", "azul", "verde", "amarelo", "branco", "preto"],
                 "ar": ["أحمر", "أزرق", "أخضر", "أصفر", "أبيض", "أسود"],
                 "tr": ["kırmızı", "mavi", "yeşil", "sarı", "beyaz", "siyah"],
                 "ru": ["красный", "синий", "зелёный", "жёлтый", "белый", "чёрный"]],
        .city: Dictionary(uniqueKeysWithValues: languages.map { ($0, ["Velora", "Mirvon", "Tashkel", "Orbana", "Quenlo", "Dravik"]) }),
        .food: ["en": ["apples", "fish", "bread", "rice", "honey", "cheese"],
                "zh": ["苹果", "鱼", "面包", "米饭", "蜂蜜", "奶酪"],
                "pt": ["maçãs", "peixe", "pão", "arroz", "mel", "queijo"],
                "ar": ["التفاح", "السمك", "الخبز", "الأرز", "العسل", "الجبن"],
                "tr": ["elma", "balık", "ekmek", "pirinç", "bal", "peynir"],
                "ru": ["яблоки", "рыбу", "хлеб", "рис", "мёд", "сыр"]],
    ]

    /// Statement templates: `{name}` and `{value}`; the value ends the sentence's content so a
    /// prompt cut just before it asks the model to recall it.
    static let statements: [Attribute: [String: String]] = [
        .kind: ["en": "{name} is a {value}.", "zh": "{name}是一只{value}。", "pt": "{name} é da espécie {value}.",
                "ar": "{name} من نوع {value}.", "tr": "{name} bir {value}.", "ru": "{name} — это {value}."],
        .color: ["en": "The color of {name} is {value}.", "zh": "{name}的颜色是{value}。", "pt": "A cor de {name} é {value}.",
                 "ar": "لون {name} هو {value}.", "tr": "{name} hayvanının rengi {value}.", "ru": "Цвет {name} — {value}."],
        .city: ["en": "{name} lives in {value}.", "zh": "{name}住在{value}。", "pt": "{name} mora em {value}.",
                "ar": "{name} يعيش في {value}.", "tr": "{name} şehri {value} içinde yaşar.", "ru": "{name} живёт в городе {value}."],
        .food: ["en": "{name} likes to eat {value}.", "zh": "{name}喜欢吃{value}。", "pt": "{name} gosta de comer {value}.",
                "ar": "{name} يحب أن يأكل {value}.", "tr": "{name} en çok {value} yemeyi sever.", "ru": "{name} любит есть {value}."],
    ]

    static let questions: [Attribute: [String: String]] = [
        .kind: ["en": "What kind of animal is {name}?", "zh": "{name}是什么动物？", "pt": "Que animal é {name}?",
                "ar": "ما نوع {name}؟", "tr": "{name} ne tür bir hayvan?", "ru": "Кто такой {name}?"],
        .color: ["en": "What color is {name}?", "zh": "{name}是什么颜色的？", "pt": "Qual é a cor de {name}?",
                 "ar": "ما لون {name}؟", "tr": "{name} hayvanının rengi ne?", "ru": "Какого цвета {name}?"],
        .city: ["en": "Where does {name} live?", "zh": "{name}住在哪里？", "pt": "Onde {name} mora?",
                "ar": "أين يعيش {name}؟", "tr": "{name} nerede yaşar?", "ru": "Где живёт {name}?"],
        .food: ["en": "What does {name} like to eat?", "zh": "{name}喜欢吃什么？", "pt": "O que {name} gosta de comer?",
                "ar": "ماذا يحب {name} أن يأكل؟", "tr": "{name} ne yemeyi sever?", "ru": "Что любит есть {name}?"],
    ]

    /// The word for value `index` of `attribute` in `language`.
    public static func word(_ attribute: Attribute, _ index: Int, _ language: String) -> String {
        words[attribute]![language]![index]
    }

    /// The sentence stating `attribute` of `entity` in `language`.
    public func statement(_ entity: Entity, _ attribute: Attribute, _ language: String) -> String {
        Self.statements[attribute]![language]!
            .replacingOccurrences(of: "{name}", with: entity.name)
            .replacingOccurrences(of: "{value}", with: Self.word(attribute, entity.value(attribute), language))
    }

    /// The statement cut just before the value, and the value: a cloze prompt and its answer.
    public func cloze(_ entity: Entity, _ attribute: Attribute, _ language: String) -> (prompt: String, answer: String) {
        let template = Self.statements[attribute]![language]!
        let prefix = String(template[..<template.range(of: "{value}")!.lowerBound])
        return (prefix.replacingOccurrences(of: "{name}", with: entity.name), Self.word(attribute, entity.value(attribute), language))
    }

    public func question(_ entity: Entity, _ attribute: Attribute, _ language: String) -> String {
        Self.questions[attribute]![language]!.replacingOccurrences(of: "{name}", with: entity.name)
    }

    static func joiner(_ language: String) -> String { language == "zh" ? "" : " " }

    // MARK: - Corpora

    /// Profile documents: every entity in every language, its facts in `variants` seeded orders;
    /// the documents themselves in seeded order.
    public func documents(variants: Int = 4, languages: [String] = Self.languages) -> [(language: String, text: String)] {
        var rng = SeededGenerator(seed: seed &+ 1)
        var docs: [(String, String)] = []
        for e in entities {
            for lang in languages {
                for _ in 0..<variants {
                    var attrs = Attribute.allCases
                    attrs.shuffle(using: &rng)
                    docs.append((lang, attrs.map { statement(e, $0, lang) }.joined(separator: Self.joiner(lang))))
                }
            }
        }
        docs.shuffle(using: &rng)
        return docs
    }

    /// Text-only question-answer conversations in LLaVA JSON form (`id`, `conversations`).
    public func conversations(languages: [String] = Self.languages) -> [[String: Any]] {
        var out: [[String: Any]] = []
        for (i, e) in entities.enumerated() {
            for lang in languages {
                for a in Attribute.allCases {
                    out.append(["id": "toy-\(i)-\(lang)-\(a.rawValue)",
                                "conversations": [["from": "human", "value": question(e, a, lang)],
                                                  ["from": "gpt", "value": statement(e, a, lang)]]])
                }
            }
        }
        var rng = SeededGenerator(seed: seed &+ 2)
        out.shuffle(using: &rng)
        return out
    }

    /// Writes `corpus.jsonl` (`{"text", "language"}` per document), `conversations.json`
    /// (LLaVA JSON), `spm_corpus.txt` (one sentence per line, for tokenizer training) and
    /// `world.json` (the facts) into `directory`.
    public func write(to directory: String, variants: Int = 4, languages: [String] = Self.languages) throws {
        try OutputPath.createDirectory(directory)
        let docs = documents(variants: variants, languages: languages)
        var jsonl = ""
        for d in docs {
            let line = try JSONSerialization.data(withJSONObject: ["text": d.text, "language": d.language], options: [.sortedKeys])
            jsonl += String(decoding: line, as: UTF8.self) + "\n"
        }
        try Data(jsonl.utf8).write(to: URL(fileURLWithPath: directory + "/corpus.jsonl"))
        let conv = try JSONSerialization.data(withJSONObject: conversations(languages: languages), options: [.prettyPrinted, .sortedKeys])
        try conv.write(to: URL(fileURLWithPath: directory + "/conversations.json"))
        var sentences: [String] = []
        for e in entities {
            for lang in languages {
                for a in Attribute.allCases { sentences.append(statement(e, a, lang)); sentences.append(question(e, a, lang)) }
            }
        }
        try Data((sentences.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/spm_corpus.txt"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(WorldFile(seed: seed, entities: entities)).write(to: URL(fileURLWithPath: directory + "/world.json"))
    }

    struct WorldFile: Codable { let seed: UInt64; let entities: [Entity] }

    // MARK: - Knowledge suite

    /// Multiple-choice cloze items testing every fact in `language`: the statement cut before
    /// the value as the question, the value and three other values of the attribute as choices
    /// (seeded order), the attribute as the subject. Items are JSONL objects in the format
    /// `mllm-cl eval` reads, with `delimiter` "" where the language writes no space before the value.
    public func knowledgeItems(_ language: String) -> [[String: Any]] {
        var rng = SeededGenerator(seed: seed &+ 3 &+ UInt64(Self.languages.firstIndex(of: language)!))
        var items: [[String: Any]] = []
        for e in entities {
            for a in Attribute.allCases {
                let (prompt, answer) = cloze(e, a, language)
                let pool = Self.words[a]![language]!
                var others = pool.indices.filter { $0 != e.value(a) }
                others.shuffle(using: &rng)
                var choices = [answer] + others.prefix(3).map { pool[$0] }
                choices.shuffle(using: &rng)
                let question = prompt.hasSuffix(" ") ? String(prompt.dropLast()) : prompt
                items.append(["question": question, "choices": choices, "answer": choices.firstIndex(of: answer)!,
                              "subject": a.rawValue, "delimiter": prompt.hasSuffix(" ") ? " " : ""])
            }
        }
        return items
    }

    /// Writes `{language}.jsonl` knowledge suites into `directory`.
    public func writeKnowledgeSuites(to directory: String) throws {
        try OutputPath.createDirectory(directory)
        for lang in Self.languages {
            let lines = try knowledgeItems(lang).map { item in
                String(decoding: try JSONSerialization.data(withJSONObject: item, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/\(lang).jsonl"))
        }
    }
}
