import Data
import Foundation
import TestSupport
import Testing
import Tokenizer

/// LLaVA JSON with images: paths inside the image folder, images decoded once, `<image>`
/// expanded into the visual-token slots, bad images named or skipped and counted.
struct MultimodalDataTests {
    let dir = TestPaths.temporaryDirectory("mmdata")
    let tokenizer = try! SentencePieceTokenizer(path: TestPaths.root + "/tokenizers/toyworld.model")

    func vision() -> StageDataset.Vision {
        StageDataset.Vision(preprocessor: .clip(size: 16), imageToken: tokenizer.id(of: SpecialTokens.image)!, tokensPerImage: 4)
    }

    func write(_ name: String, _ text: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func setUp() throws {
        try FileManager.default.createDirectory(atPath: dir + "/imgs", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestPaths.fixture("images/grey.png"), toPath: dir + "/imgs/a.png")
        try FileManager.default.copyItem(atPath: TestPaths.fixture("images/truncated.png"), toPath: dir + "/imgs/bad.png")
    }

    func dataset(_ json: String, skipBad: Bool = false, folder: String? = nil) throws -> StageDataset {
        var source = DataSource(path: write("mm.json", json))
        source.imageFolder = folder
        return try StageDataset(sources: [source], baseDirectory: dir, tokenizer: tokenizer, template: .chatml, system: nil,
                                sequenceLength: 64, skipBadSamples: skipBad, vision: vision())
    }

    @Test func imagesExpandIntoVisualTokenSlots() throws {
        try setUp()
        let d = try dataset("""
            [{"id": "1", "image": "imgs/a.png", "conversations": [{"from": "human", "value": "<image>\\nWhat color?"}, {"from": "gpt", "value": "grey"}]},
             {"id": "2", "image": "imgs/a.png", "conversations": [{"from": "human", "value": "Describe."}, {"from": "gpt", "value": "grey"}]},
             {"id": "3", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}]
            """)
        #expect(d.images.count == 1 && d.images[0].count == 3 * 16 * 16, "one decode for the two samples of one image")
        let image = tokenizer.id(of: SpecialTokens.image)!
        let samples = d.sources[0]
        for s in samples.prefix(2) {
            #expect(s.image == 0 && s.tokens.filter { $0 == image }.count == 4, "a missing <image> is added, as LLaVA does")
            #expect(zip(s.tokens, s.supervised).allSatisfy { $0 != image || !$1 })
        }
        #expect(samples[2].image == nil)
        let b = Batcher(dataset: d, batchSize: 3, seed: 1)
        var t = [Int32](repeating: 0, count: 192), y = t, m = t, images = [Int32](repeating: 7, count: 3)
        b.next(tokens: &t, targets: &y, attentionMask: &m, pad: 3, images: &images)
        #expect(images.sorted() == [-1, 0, 0])
    }

    @Test func pathEscapingTheImageFolderIsRejected() throws {
        try setUp()
        let json = """
            [{"id": "x", "image": "../secret.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "no"}]}]
            """
        do {
            _ = try dataset(json, folder: dir + "/imgs")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("sample 0 (id \"x\"): image path '../secret.png' escapes the image folder"), "\(error)")
        }
    }

    /// A symbolic link inside the image folder that points outside it is refused like `../`;
    /// one that stays inside is followed.
    @Test func symlinkEscapingTheImageFolderIsRejected() throws {
        try setUp()
        let outside = TestPaths.temporaryDirectory("outside")
        try FileManager.default.copyItem(atPath: dir + "/imgs/a.png", toPath: outside + "/secret.png")
        try FileManager.default.createSymbolicLink(atPath: dir + "/imgs/link.png", withDestinationPath: outside + "/secret.png")
        try FileManager.default.createSymbolicLink(atPath: dir + "/imgs/inside.png", withDestinationPath: dir + "/imgs/a.png")
        let json = """
            [{"id": "x", "image": "link.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "no"}]}]
            """
        do {
            _ = try dataset(json, folder: dir + "/imgs")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("image path 'link.png' escapes the image folder") && "\(error)".contains("symbolic link"), "\(error)")
        }
        let ok = ImageFolder(dir + "/imgs")
        #expect(ok.resolve("inside.png") != nil && ok.resolve("link.png") == nil && ok.resolve("../imgs/a.png") != nil)
    }

    @Test func corruptImageIsNamedOrSkipped() throws {
        try setUp()
        let json = """
            [{"id": "ok", "image": "imgs/a.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "grey"}]},
             {"id": "broken", "image": "imgs/bad.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "?"}]}]
            """
        do {
            _ = try dataset(json)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("sample broken") && "\(error)".contains("bad.png: corrupt PNG"), "\(error)")
        }
        let d = try dataset(json, skipBad: true)
        #expect(d.skipped == 1 && d.sources[0].count == 1 && d.images.count == 1)
    }
}
