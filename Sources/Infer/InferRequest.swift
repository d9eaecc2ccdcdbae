import Data
import Foundation
import Support

/// One prompt to complete.
public struct InferRequest: Sendable {
    public var id: String
    public var prompt: String
    /// An image path (multimodal models only).
    public var image: String?

    public init(id: String, prompt: String, image: String? = nil) {
        self.id = id
        self.prompt = prompt
        self.image = image
    }
}

/// One completion: `{"id", "output", "tokens", "finish_reason"}` (stop: an end token; length: the limit).
public struct InferResult: Codable, Sendable, Equatable {
    public var id: String
    public var output: String
    public var tokens: Int
    public var finishReason: FinishReason

    enum CodingKeys: String, CodingKey { case id, output, tokens, finishReason = "finish_reason" }
}

extension InferRequest {
    /// One input line: `{"id", "prompt", "image"?}` or a LLaVA sample `{"id", "image"?, "conversations"}`
    /// (its first human turn is the prompt). A relative image path starts at `folder`; the image
    /// must decode (an unreadable image is this line's error, not its batch's). `model` names
    /// the model in the error for an image it cannot take (`acceptsImages` false).
    /// `contained`: image paths must resolve inside `folder` (`--image-folder` given), symbolic links included.
    public init(jsonLine line: Data, folder: String, model: String, acceptsImages: Bool, contained: Bool = false) throws {
        guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { throw InferError("not a JSON object") }
        guard let rawID = o["id"] else { throw InferError("missing 'id'") }
        let prompt: String
        if let p = o["prompt"] as? String {
            prompt = p
        } else if let turns = o["conversations"] as? [[String: Any]],
                  let first = turns.first(where: { ($0["from"] as? String) == "human" })?["value"] as? String {
            prompt = first
        } else {
            throw InferError("needs a string 'prompt' or LLaVA 'conversations' with a human turn")
        }
        var image: String?
        if let relative = o["image"] {
            guard acceptsImages else { throw InferError("has an image, but \(model) has no vision tower") }
            guard let r = relative as? String, !r.isEmpty else { throw InferError("'image' must be a path") }
            var path = r.hasPrefix("/") ? r : (folder as NSString).appendingPathComponent(r)
            if contained {
                let images = ImageFolder(folder)
                guard let inside = images.resolve(r, absoluteAllowed: true) else {
                    throw InferError("image path '\(r)' escapes --image-folder \(images.root) (through .. or a symbolic link)")
                }
                path = inside
            }
            _ = try ImageDecoder.decode(path: path)
            image = path
        }
        self.init(id: (rawID as? String) ?? "\(rawID)", prompt: prompt, image: image)
    }
}
