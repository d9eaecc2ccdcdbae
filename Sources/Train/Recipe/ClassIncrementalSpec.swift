import Data
import Foundation
import Support
import Yams

/// A recipe's `cil:` block: class-incremental learning on an image-classification folder, as the
/// GMM paper and PyCIL run it. The classes, in the order `class_order_seed` shuffles them, are cut
/// into tasks by `protocol` (`B0-Inc2`: five tasks of two digits); each task becomes a stage (the
/// `stage` block, named `task1`, `task2`, …) that trains on its classes' images as instruct
/// samples, "<image>\nWhat is this?" → "This is a photo of a {name}." with the loss on the answer.
/// After each task the model is scored on the test images of every class seen so far
/// (`classifier`), and `continual.json` holds PyCIL's metrics.
public struct ClassIncrementalSpec: Codable, Sendable, Equatable {
    /// How a test image's class is decided.
    public enum Classifier: String, Codable, Sendable, CaseIterable {
        /// GMM: generate greedily; the nearest class name seen so far (cosine of text features) to
        /// the generated name is the prediction.
        case generative
        /// The generated name must be a seen class's name exactly (a fine-tuned model read as a classifier).
        case exact
        /// SimpleCIL: the nearest class prototype (the mean pooled tower feature of its training
        /// images) by cosine; no training at all.
        case prototype
    }

    /// What a class name's text feature is, for the generative classifier.
    public enum TextFeatures: String, Codable, Sendable, CaseIterable {
        /// The language model's final hidden states of the name (after the final norm), mean-pooled.
        case hidden
        /// The name's input embeddings, mean-pooled.
        case embeddings
    }

    /// The image-classification folder: `data/{train,test}/{class}/*.png`.
    public var data: String
    public var `protocol`: String
    public var classOrderSeed: UInt64
    /// One display name per class folder (sorted order); default: folder names, `_` as spaces.
    public var classNames: String?
    public var question: String
    public var answer: String
    public var classifier: Classifier
    public var textFeatures: TextFeatures
    /// Replay as class-incremental methods keep it: this many training images of each earlier
    /// class (the first in file order) join each later task's data (nil: none).
    public var exemplarsPerClass: Int?
    public var testSplit: String
    /// At most this many test images per class (nil: all).
    public var testPerClass: Int?
    public var maxNewTokens: Int
    /// The stage every task trains with (its `name` and `data` come from the task).
    public var stage: Stage?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case data, `protocol`, classOrderSeed = "class_order_seed", classNames = "class_names", question, answer, classifier
        case textFeatures = "text_features", exemplarsPerClass = "exemplars_per_class", testSplit = "test_split"
        case testPerClass = "test_per_class", maxNewTokens = "max_new_tokens", stage
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decode(String.self, forKey: .data)
        `protocol` = try c.decodeIfPresent(String.self, forKey: .protocol) ?? "B0-Inc2"
        classOrderSeed = try c.decodeIfPresent(UInt64.self, forKey: .classOrderSeed) ?? 1993
        classNames = try c.decodeIfPresent(String.self, forKey: .classNames)
        question = try c.decodeIfPresent(String.self, forKey: .question) ?? DataSource.defaultQuestion
        answer = try c.decodeIfPresent(String.self, forKey: .answer) ?? DataSource.defaultAnswer
        classifier = try c.decodeIfPresent(Classifier.self, forKey: .classifier) ?? .generative
        textFeatures = try c.decodeIfPresent(TextFeatures.self, forKey: .textFeatures) ?? .hidden
        exemplarsPerClass = try c.decodeIfPresent(Int.self, forKey: .exemplarsPerClass)
        testSplit = try c.decodeIfPresent(String.self, forKey: .testSplit) ?? "test"
        testPerClass = try c.decodeIfPresent(Int.self, forKey: .testPerClass)
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens) ?? 32
        stage = nil  // the expansion made the stages; the template is not kept
    }

    /// The class folders in the seeded order, and the tasks as ranges of that order.
    public func plan(_ folder: ImageClassFolder) -> (order: [String], tasks: [Range<Int>])? {
        guard let p = ClassIncrementalProtocol(`protocol`) else { return nil }
        let order = ClassIncrementalProtocol.classOrder(count: folder.classes.count, seed: classOrderSeed).map { folder.classes[$0] }
        let tasks = p.tasks(classes: order.count)
        return tasks.isEmpty ? nil : (order, tasks)
    }
}

extension RecipeLoader {
    /// Expands a `cil:` block into the recipe's `stages` (in the YAML tree, before validation, so
    /// that every check and error of a stage applies to each task's): stage t is `cil.stage` with
    /// `name: task<t>` and `data` the image folder's training images of task t's classes (and,
    /// with `exemplars_per_class`, that many of each earlier class); `ewc` starts with the second task.
    static func expandClassIncremental(_ root: Node, file: String) throws -> Node {
        guard case .mapping(var top) = root, let cil = top["cil"] else { return root }
        let at = RecipeLocator(root: root, file: file)
        guard top["stages"] == nil else { throw at.error(["stages"], "a recipe with 'cil' gets its stages from it (one per task): remove 'stages'") }
        guard let data = cil["data"]?.string else { throw at.error(["cil"], "'cil' is missing the required key 'data' (an image-classification folder)") }
        let text = cil["protocol"]?.string ?? "B0-Inc2"
        guard let proto = ClassIncrementalProtocol(text) else {
            throw at.error(["cil", "protocol"], "'cil.protocol' must read B<base>-Inc<k> (B0-Inc2: tasks of two classes), got \(excerpt(text))")
        }
        let seedText = cil["class_order_seed"]?.string ?? "1993"
        guard let seed = UInt64(seedText) else { throw at.error(["cil", "class_order_seed"], "'cil.class_order_seed' should be a non-negative integer, got \(excerpt(seedText))") }
        let folder: ImageClassFolder
        do { folder = try ImageClassFolder(root: data, namesFile: cil["class_names"]?.string) } catch {
            throw at.error(["cil", "data"], "\(error)")
        }
        let order = ClassIncrementalProtocol.classOrder(count: folder.classes.count, seed: seed).map { folder.classes[$0] }
        let tasks = proto.tasks(classes: order.count)
        guard !tasks.isEmpty else { throw at.error(["cil", "protocol"], "\(proto) needs more than the \(order.count) classes of \(data)") }
        var exemplars: Int?
        if let e = cil["exemplars_per_class"] {
            guard let n = e.int, n >= 1 else { throw at.error(["cil", "exemplars_per_class"], "'cil.exemplars_per_class' must be an integer at least 1") }
            exemplars = n
        }
        let template: Node.Mapping
        switch cil["stage"] {
        case .mapping(let m)?: template = m
        case nil: throw at.error(["cil"], "'cil' is missing the required key 'stage' (the stage every task trains with)")
        default: throw at.error(["cil", "stage"], "'cil.stage' should be a mapping of stage keys")
        }
        for key in ["name", "data"] where template[key] != nil {
            throw at.error(["cil", "stage", key], "'cil.stage.\(key)' comes from each task: remove it")
        }
        func source(_ classes: [String], perClass: Int?) -> Node {
            var s: Node.Mapping = ["path": Node(data), "format": "image_folder", "split": "train",
                                   "classes": Node(classes.map { Node($0) })]
            if let q = cil["question"] { s["question"] = q }
            if let a = cil["answer"] { s["answer"] = a }
            if let n = cil["class_names"] { s["class_names"] = n }
            if let perClass { s["per_class"] = Node(String(perClass)) }
            return .mapping(s)
        }
        var stages: [Node] = []
        for (t, range) in tasks.enumerated() {
            var stage = template
            stage["name"] = Node("task\(t + 1)")
            if stage["kind"] == nil { stage["kind"] = "instruct" }
            if t == 0 { stage["ewc"] = nil }  // EWC consolidates a previous task: it starts with the second
            var sources = [source(Array(order[range]), perClass: nil)]
            if let exemplars, range.lowerBound > 0 { sources.append(source(Array(order[..<range.lowerBound]), perClass: exemplars)) }
            stage["data"] = .sequence(Node.Sequence(sources))
            stages.append(.mapping(stage))
        }
        top["stages"] = .sequence(Node.Sequence(stages))
        return .mapping(top)
    }
}
