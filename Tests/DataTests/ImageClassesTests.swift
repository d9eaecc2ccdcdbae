import Data
import Foundation
import TestSupport
import Testing
import Tokenizer

/// Image-classification folders and the class-incremental protocols.
struct ImageClassesTests {
    /// B<base>-Inc<k>: the tasks, and the seeded class order (a permutation, the same for a seed).
    @Test func protocolsCutTheSeededOrderIntoTasks() {
        let p = try! #require(ClassIncrementalProtocol("B0-Inc2"))
        #expect(p.tasks(classes: 10) == [0..<2, 2..<4, 4..<6, 6..<8, 8..<10])
        #expect(ClassIncrementalProtocol("b5-inc2")!.tasks(classes: 10) == [0..<5, 5..<7, 7..<9, 9..<10])
        #expect(ClassIncrementalProtocol("B0-Inc3")!.tasks(classes: 10) == [0..<3, 3..<6, 6..<9, 9..<10])
        #expect(ClassIncrementalProtocol("B11-Inc2")!.tasks(classes: 10).isEmpty)
        for bad in ["B0", "Inc2", "B-1-Inc2", "B0-Inc0", "X0-Inc2"] { #expect(ClassIncrementalProtocol(bad) == nil, "\(bad)") }
        let order = ClassIncrementalProtocol.classOrder(count: 10, seed: 1993)
        #expect(order.sorted() == Array(0..<10) && order != Array(0..<10))
        #expect(order == ClassIncrementalProtocol.classOrder(count: 10, seed: 1993))
        #expect(order != ClassIncrementalProtocol.classOrder(count: 10, seed: 1994))
    }

    /// The folder's classes (sorted folder names, underscores as spaces) and images; as a data
    /// source, each image of the chosen classes is a question and its answer.
    @Test func anImageFolderIsReadAsQuestionsAndAnswers() throws {
        let dir = TestPaths.temporaryDirectory("classes")
        try ToyScenes.writeImageFolder(to: dir, seed: 3, train: 3, test: 1)
        let folder = try ImageClassFolder(root: dir)
        #expect(folder.classes.count == 18 && folder.classes == folder.classes.sorted())
        #expect(folder.displayName("red_circle") == "red circle")
        #expect(try folder.images(split: "train", class: "red_circle").map { ($0 as NSString).lastPathComponent } == ["0000.png", "0001.png", "0002.png"])
        var source = DataSource(path: dir, format: .imageFolder)
        source.classes = ["red_circle", "blue_square"]
        source.perClass = 2
        source.answer = "It is a {name}."
        var reader = SourceReader(skipBad: false)
        let docs = try reader.read(source, path: dir, allowImages: true)
        #expect(docs.count == 4)
        guard case .conversation(let id, let turns, let image) = docs[0] else { Issue.record("not a conversation"); return }
        #expect(id == "red_circle/0000.png" && image?.hasSuffix("/train/red_circle/0000.png") == true)
        #expect(turns == [Turn(.human, "<image>\nWhat is this?"), Turn(.gpt, "It is a red circle.")])
        source.classes = ["purple_star"]
        #expect(throws: DataError.self) { _ = try reader.read(source, path: dir, allowImages: true) }
        #expect(throws: DataError.self) { _ = try reader.read(DataSource(path: dir, format: .imageFolder), path: dir, allowImages: false) }
    }
}
