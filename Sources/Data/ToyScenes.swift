import Foundation
import Support
import Tensor

/// The toy world's pictures: a few shapes of one kind and colour in one quadrant of a grey
/// canvas, with captions, question-answer conversations and multiple-choice questions about
/// them in the six languages. Deterministic from the seed.
public struct ToyScenes: Sendable {
    /// What a scene shows; each is an index into the word lists below.
    public struct Scene: Codable, Sendable, Equatable {
        public let shape: Int
        public let color: Int
        /// 1...4
        public let count: Int
        public let position: Int
    }

    public enum Category: String, CaseIterable, Codable, Sendable { case color, shape, count, position }

    public static let languages = ToyWorld.languages
    public static let size = 64
    /// Colours: names from the toy world (red, blue, green, yellow, white, black).
    public static let rgb: [(UInt8, UInt8, UInt8)] = [(220, 30, 30), (30, 60, 220), (30, 170, 50), (235, 205, 20), (250, 250, 250), (15, 15, 15)]

    static let shapes: [String: [String]] = [
        "en": ["circle", "square", "triangle"], "zh": ["圆形", "正方形", "三角形"], "pt": ["círculo", "quadrado", "triângulo"],
        "ar": ["دائرة", "مربع", "مثلث"], "tr": ["daire", "kare", "üçgen"], "ru": ["круг", "квадрат", "треугольник"],
    ]
    static let positions: [String: [String]] = [
        "en": ["top left", "top right", "bottom left", "bottom right"], "zh": ["左上", "右上", "左下", "右下"],
        "pt": ["canto superior esquerdo", "canto superior direito", "canto inferior esquerdo", "canto inferior direito"],
        "ar": ["أعلى اليسار", "أعلى اليمين", "أسفل اليسار", "أسفل اليمين"],
        "tr": ["sol üst", "sağ üst", "sol alt", "sağ alt"], "ru": ["слева вверху", "справа вверху", "слева внизу", "справа внизу"],
    ]
    static let questions: [Category: [String: String]] = [
        .color: ["en": "What color are the shapes?", "zh": "这些图形是什么颜色？", "pt": "De que cor são as formas?",
                 "ar": "ما لون الأشكال؟", "tr": "Şekiller ne renk?", "ru": "Какого цвета фигуры?"],
        .shape: ["en": "What shape are they?", "zh": "它们是什么形状？", "pt": "Que forma elas têm?",
                 "ar": "ما شكلها؟", "tr": "Bunlar hangi şekil?", "ru": "Какой они формы?"],
        .count: ["en": "How many shapes are there?", "zh": "有几个图形？", "pt": "Quantas formas há?",
                 "ar": "كم عدد الأشكال؟", "tr": "Kaç şekil var?", "ru": "Сколько здесь фигур?"],
        .position: ["en": "Where are the shapes?", "zh": "图形在哪里？", "pt": "Onde estão as formas?",
                    "ar": "أين الأشكال؟", "tr": "Şekiller nerede?", "ru": "Где фигуры?"],
    ]
    static let captionTemplate: [String: String] = [
        "en": "{count} {color} {shape}, {position}.", "zh": "{position}有{count}个{color}{shape}。", "pt": "{count} {shape} {color}, {position}.",
        "ar": "{count} {shape} {color}، {position}.", "tr": "{position}: {count} {color} {shape}.", "ru": "{count} {shape}, {color}, {position}.",
    ]

    public let seed: UInt64
    public let scenes: [Scene]

    /// Scenes given one by one (an image-classification folder's: each class one colour and shape).
    public init(seed: UInt64, scenes: [Scene]) {
        self.seed = seed
        self.scenes = scenes
    }

    public init(seed: UInt64 = 11, count: Int = 480) {
        self.seed = seed
        var rng = SeededGenerator(seed: seed)
        scenes = (0..<count).map { _ in
            Scene(shape: Int(rng.next() % 3), color: Int(rng.next() % 6), count: 1 + Int(rng.next() % 4), position: Int(rng.next() % 4))
        }
    }

    /// The answer word for `category` in `language`.
    public static func answer(_ s: Scene, _ category: Category, _ language: String) -> String {
        switch category {
        case .color: return ToyWorld.word(.color, s.color, language)
        case .shape: return shapes[language]![s.shape]
        case .count: return String(s.count)
        case .position: return positions[language]![s.position]
        }
    }

    /// Every possible answer of `category` in `language`.
    public static func options(_ category: Category, _ language: String) -> [String] {
        switch category {
        case .color: return (0..<6).map { ToyWorld.word(.color, $0, language) }
        case .shape: return shapes[language]!
        case .count: return ["1", "2", "3", "4"]
        case .position: return positions[language]!
        }
    }

    public static func question(_ category: Category, _ language: String) -> String { questions[category]![language]! }

    public static func caption(_ s: Scene, _ language: String) -> String {
        var text = captionTemplate[language]!
        for c in Category.allCases { text = text.replacingOccurrences(of: "{\(c.rawValue)}", with: answer(s, c, language)) }
        return text
    }

    /// Draws scene `index`: `count` shapes, about 11 px, inside its quadrant, on grey.
    public func render(_ index: Int) -> RGBImage {
        let s = scenes[index], S = Self.size
        var rng = SeededGenerator(seed: seed &+ UInt64(index) &* 7919)
        var pixels = [UInt8](repeating: 128, count: S * S * 3)
        let (qx, qy) = (s.position % 2 * S / 2, s.position / 2 * S / 2)
        let slots = [(0, 0), (1, 0), (0, 1), (1, 1)].shuffled(using: &rng)
        let (r, g, b) = Self.rgb[s.color]
        for k in 0..<s.count {
            let cx = qx + 8 + slots[k].0 * 15 + Int(rng.next() % 3), cy = qy + 8 + slots[k].1 * 15 + Int(rng.next() % 3)
            let radius = 5
            for y in max(0, cy - radius)...min(S - 1, cy + radius) {
                for x in max(0, cx - radius)...min(S - 1, cx + radius) {
                    let dx = x - cx, dy = y - cy
                    let inside: Bool
                    switch s.shape {
                    case 0: inside = dx * dx + dy * dy <= radius * radius
                    case 1: inside = abs(dx) <= radius - 1 && abs(dy) <= radius - 1
                    default: inside = dy >= -radius && 2 * abs(dx) <= dy + radius  // apex up
                    }
                    if inside { pixels[(y * S + x) * 3] = r; pixels[(y * S + x) * 3 + 1] = g; pixels[(y * S + x) * 3 + 2] = b }
                }
            }
        }
        return RGBImage(width: S, height: S, pixels: pixels)
    }

    public static func imageName(_ index: Int) -> String { String(format: "images/scene_%04d.png", index) }

    /// Writes the PNGs and, in LLaVA JSON with paths relative to `directory`, `captions.json`
    /// (align: `<image>` then the caption, in every language) and `conversations.json` (instruct:
    /// every category's question about every scene, in every language of `languages`).
    public func write(to directory: String, languages: [String] = Self.languages, categories: [Category] = Category.allCases) throws {
        try OutputPath.createDirectory(directory + "/images")
        var captions: [[String: Any]] = [], conversations: [[String: Any]] = []
        for i in scenes.indices {
            try ImageEncoder.writePNG(render(i), to: directory + "/" + Self.imageName(i))
            for lang in languages {
                captions.append(["id": "cap-\(i)-\(lang)", "image": Self.imageName(i),
                                 "conversations": [["from": "human", "value": "<image>\n"], ["from": "gpt", "value": Self.caption(scenes[i], lang)]]])
                for c in categories {
                    conversations.append(["id": "qa-\(i)-\(lang)-\(c.rawValue)", "image": Self.imageName(i),
                                          "conversations": [["from": "human", "value": "<image>\n" + Self.question(c, lang)],
                                                            ["from": "gpt", "value": Self.answer(scenes[i], c, lang)]]])
                }
            }
        }
        let options: JSONSerialization.WritingOptions = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try JSONSerialization.data(withJSONObject: captions, options: options).write(to: URL(fileURLWithPath: directory + "/captions.json"))
        try JSONSerialization.data(withJSONObject: conversations, options: options).write(to: URL(fileURLWithPath: directory + "/conversations.json"))
    }

    /// An image-classification folder (torchvision's ImageFolder) of the toy world's pictures for
    /// class-incremental learning: a class per colour and shape (18: `red_circle`, …, shown as
    /// "red circle"), `train` images per class in `directory/train/<class>/` and `test` more in
    /// `directory/test/<class>/`, counts and quadrants drawn at random.
    public static func writeImageFolder(to directory: String, seed: UInt64, train: Int, test: Int) throws {
        var rng = SeededGenerator(seed: seed)
        for shape in 0..<3 {
            for color in 0..<6 {
                let name = ToyWorld.word(.color, color, "en") + "_" + shapes["en"]![shape]
                for (split, n) in [("train", train), ("test", test)] {
                    try OutputPath.createDirectory("\(directory)/\(split)/\(name)")
                    let scenes = (0..<n).map { _ in Scene(shape: shape, color: color, count: 1 + Int(rng.next() % 4), position: Int(rng.next() % 4)) }
                    let drawn = ToyScenes(seed: rng.next(), scenes: scenes)
                    for i in 0..<n { try ImageEncoder.writePNG(drawn.render(i), to: String(format: "%@/%@/%@/%04d.png", directory, split, name, i)) }
                }
            }
        }
    }

    /// A multiple-choice suite per language over scenes `range` (held out from training):
    /// `{lang}.jsonl` items `{"image", "question", "choices", "answer", "language", "category"}`
    /// with image paths relative to `directory`, and the PNGs in `directory/images`.
    public func writeSuite(to directory: String, range: Range<Int>, languages: [String] = Self.languages,
                           categories: [Category] = Category.allCases) throws {
        try OutputPath.createDirectory(directory + "/images")
        for i in range { try ImageEncoder.writePNG(render(i), to: directory + "/" + Self.imageName(i)) }
        for (l, lang) in Self.languages.enumerated() where languages.contains(lang) {
            var rng = SeededGenerator(seed: seed &+ 100 &+ UInt64(l))
            var lines: [String] = []
            for i in range {
                for c in categories {
                    let right = Self.answer(scenes[i], c, lang)
                    var choices = [right] + Self.options(c, lang).filter { $0 != right }.shuffled(using: &rng).prefix(3)
                    choices.shuffle(using: &rng)
                    let item: [String: Any] = ["image": Self.imageName(i), "question": Self.question(c, lang), "choices": choices,
                                               "answer": choices.firstIndex(of: right)!, "language": lang, "category": c.rawValue]
                    lines.append(String(decoding: try JSONSerialization.data(withJSONObject: item, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
                }
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/\(lang).jsonl"))
        }
    }
}
