import Foundation

/// A Hugging Face `preprocessor_config.json` as CLIPImageProcessor and SiglipImageProcessor
/// write it (`save_pretrained`): resize (the shortest edge, or to a height and width), centre
/// crop, rescale, normalise. Keys this project does not use are ignored; a value it cannot
/// honour (a resampling filter other than bicubic, a crop larger than the resize) is an error
/// naming the file and the key.
public struct ImageProcessorConfig: Codable, Sendable, Equatable {
    public static let file = "preprocessor_config.json"

    /// `{"shortest_edge": N}` or `{"height": H, "width": W}` (older files, OpenAI's CLIP among them,
    /// write one integer: the shortest edge for `size`, a square for `crop_size`, as transformers'
    /// `get_size_dict` reads them).
    public struct Size: Codable, Sendable, Equatable {
        public var shortestEdge: Int?
        public var height: Int?
        public var width: Int?

        public enum CodingKeys: String, CodingKey { case shortestEdge = "shortest_edge", height, width }

        public init(shortestEdge: Int? = nil, height: Int? = nil, width: Int? = nil) {
            self.shortestEdge = shortestEdge
            self.height = height
            self.width = width
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(shortestEdge: try c.decodeIfPresent(Int.self, forKey: .shortestEdge), height: try c.decodeIfPresent(Int.self, forKey: .height),
                      width: try c.decodeIfPresent(Int.self, forKey: .width))
        }
    }

    public var imageProcessorType: String?
    public var doResize: Bool
    public var size: Size?
    /// PIL's filter number: 3 (bicubic) is the one implemented.
    public var resample: Int
    public var doCenterCrop: Bool
    public var cropSize: Size?
    public var doRescale: Bool
    public var rescaleFactor: Float
    public var doNormalize: Bool
    public var imageMean: [Float]
    public var imageStd: [Float]
    public var doConvertRgb: Bool

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case imageProcessorType = "image_processor_type", doResize = "do_resize", size, resample, doCenterCrop = "do_center_crop"
        case cropSize = "crop_size", doRescale = "do_rescale", rescaleFactor = "rescale_factor", doNormalize = "do_normalize"
        case imageMean = "image_mean", imageStd = "image_std", doConvertRgb = "do_convert_rgb"
    }

    /// OpenAI CLIP's statistics, CLIPImageProcessor's defaults.
    public static let clipMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let clipStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// CLIPImageProcessor at `side` px: shortest edge to `side`, centre crop `side` x `side`.
    public static func clip(side: Int, mean: [Float] = clipMean, std: [Float] = clipStd) -> ImageProcessorConfig {
        ImageProcessorConfig(imageProcessorType: "CLIPImageProcessor", doResize: true, size: Size(shortestEdge: side), resample: 3,
                             doCenterCrop: true, cropSize: Size(height: side, width: side), doRescale: true, rescaleFactor: 1 / 255,
                             doNormalize: true, imageMean: mean, imageStd: std, doConvertRgb: true)
    }

    /// SiglipImageProcessor at `side` px: resized to `side` x `side`, mean and std 0.5.
    public static func siglip(side: Int) -> ImageProcessorConfig {
        ImageProcessorConfig(imageProcessorType: "SiglipImageProcessor", doResize: true, size: Size(height: side, width: side), resample: 3,
                             doCenterCrop: false, cropSize: nil, doRescale: true, rescaleFactor: 1 / 255, doNormalize: true,
                             imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5], doConvertRgb: true)
    }

    public init(imageProcessorType: String?, doResize: Bool, size: Size?, resample: Int, doCenterCrop: Bool, cropSize: Size?,
                doRescale: Bool, rescaleFactor: Float, doNormalize: Bool, imageMean: [Float], imageStd: [Float], doConvertRgb: Bool) {
        self.imageProcessorType = imageProcessorType
        self.doResize = doResize
        self.size = size
        self.resample = resample
        self.doCenterCrop = doCenterCrop
        self.cropSize = cropSize
        self.doRescale = doRescale
        self.rescaleFactor = rescaleFactor
        self.doNormalize = doNormalize
        self.imageMean = imageMean
        self.imageStd = imageStd
        self.doConvertRgb = doConvertRgb
    }

    /// Absent keys take CLIPImageProcessor's defaults (SiglipImageProcessor's for a SigLIP type).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decodeIfPresent(String.self, forKey: .imageProcessorType)
        let d: ImageProcessorConfig = (type ?? "").hasPrefix("Siglip") ? .siglip(side: 224) : .clip(side: 224)
        imageProcessorType = type
        doResize = try c.decodeIfPresent(Bool.self, forKey: .doResize) ?? d.doResize
        size = try (try? c.decodeIfPresent(Int.self, forKey: .size)).map { Size(shortestEdge: $0) }
            ?? c.decodeIfPresent(Size.self, forKey: .size) ?? d.size
        resample = try c.decodeIfPresent(Int.self, forKey: .resample) ?? d.resample
        doCenterCrop = try c.decodeIfPresent(Bool.self, forKey: .doCenterCrop) ?? d.doCenterCrop
        cropSize = try (try? c.decodeIfPresent(Int.self, forKey: .cropSize)).map { Size(height: $0, width: $0) }
            ?? c.decodeIfPresent(Size.self, forKey: .cropSize) ?? d.cropSize
        doRescale = try c.decodeIfPresent(Bool.self, forKey: .doRescale) ?? d.doRescale
        rescaleFactor = try c.decodeIfPresent(Float.self, forKey: .rescaleFactor) ?? d.rescaleFactor
        doNormalize = try c.decodeIfPresent(Bool.self, forKey: .doNormalize) ?? d.doNormalize
        imageMean = try c.decodeIfPresent([Float].self, forKey: .imageMean) ?? d.imageMean
        imageStd = try c.decodeIfPresent([Float].self, forKey: .imageStd) ?? d.imageStd
        doConvertRgb = try c.decodeIfPresent(Bool.self, forKey: .doConvertRgb) ?? d.doConvertRgb
    }

    /// The (height, width) of the processed image, or an error naming `file` and the key that
    /// makes it undefined or unsupported.
    public func outputSize(file: String) throws -> (height: Int, width: Int) {
        func fail(_ key: String, _ why: String) -> DataError { DataError("\(file): '\(key)' \(why)") }
        guard resample == 3 || !doResize else { throw fail("resample", "is \(resample); only 3 (bicubic, as CLIP and SigLIP use) is implemented") }
        guard imageMean.count == 3, imageStd.count == 3, imageStd.allSatisfy({ $0 > 0 && $0.isFinite }), imageMean.allSatisfy(\.isFinite) else {
            throw fail("image_std", "and 'image_mean' need 3 finite values (std positive)")
        }
        guard rescaleFactor.isFinite, rescaleFactor > 0 else { throw fail("rescale_factor", "must be positive") }
        var resized: (height: Int, width: Int)?   // nil: depends on the image
        if doResize {
            guard let size else { throw fail("size", "is missing") }
            if let s = size.shortestEdge {
                guard (1...16384).contains(s) else { throw fail("size", "shortest_edge \(s) is outside 1...16384") }
                resized = nil
            } else if let h = size.height, let w = size.width {
                guard (1...16384).contains(h), (1...16384).contains(w) else { throw fail("size", "\(h)x\(w) is outside 1...16384") }
                resized = (h, w)
            } else {
                throw fail("size", "needs shortest_edge, or height and width")
            }
        }
        if doCenterCrop {
            guard let crop = cropSize, let h = crop.height, let w = crop.width, h > 0, w > 0 else { throw fail("crop_size", "needs a positive height and width") }
            if let s = size?.shortestEdge, doResize, h > s || w > s {
                throw fail("crop_size", "\(h)x\(w) is larger than the resized shortest edge \(s)")
            }
            if let fixed = resized, h > fixed.height || w > fixed.width {
                throw fail("crop_size", "\(h)x\(w) is larger than the resized \(fixed.height)x\(fixed.width)")
            }
            return (h, w)
        }
        guard let resized else { throw fail("do_center_crop", "is false and the resize keeps the aspect ratio: the processed size would vary per image") }
        return resized
    }

    /// Where `load(directory:)` read the config from: `preprocessor_config.json`, or `processor_config.json`.
    public static func path(directory: String) -> String {
        let own = directory + "/" + file
        return FileManager.default.fileExists(atPath: own) || !FileManager.default.fileExists(atPath: directory + "/processor_config.json")
            ? own : directory + "/processor_config.json"
    }

    /// Reads `directory/preprocessor_config.json`, else the `image_processor` that transformers 5's
    /// `LlavaProcessor.save_pretrained` nests in `processor_config.json`; nil when neither is there.
    public static func load(directory: String) throws -> ImageProcessorConfig? {
        var path = directory + "/" + file
        var contents = FileManager.default.contents(atPath: path)
        if contents == nil, let nested = FileManager.default.contents(atPath: directory + "/processor_config.json") {
            path = directory + "/processor_config.json"
            guard let o = (try? JSONSerialization.jsonObject(with: nested)) as? [String: Any] else { throw DataError("\(path): not a JSON object") }
            guard let processor = o["image_processor"] as? [String: Any] else { return nil }
            contents = try JSONSerialization.data(withJSONObject: processor)
        }
        guard let data = contents else { return nil }
        do {
            return try JSONDecoder().decode(ImageProcessorConfig.self, from: data)
        } catch let DecodingError.typeMismatch(type, context) {
            throw DataError("\(path): '\(context.codingPath.map(\.stringValue).joined(separator: "."))' should be \(type)")
        } catch {
            throw DataError("\(path): not an image processor config (\(error.localizedDescription))")
        }
    }

    /// The JSON `save_pretrained` would write (with the processor type, so transformers'
    /// AutoImageProcessor picks the class).
    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }
}
