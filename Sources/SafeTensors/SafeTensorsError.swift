import Support

/// A safetensors file that cannot be read as asked, naming the file and, where
/// one is involved, the tensor.
public struct SafeTensorsError: UserFacingError, Equatable {
    public enum Kind: String, Sendable {
        case fileNotFound, truncated, headerTooLarge, invalidHeader
        case unsupportedDType, offsetsOutOfBounds, overlappingOffsets, sizeMismatch
        case missingTensor, shapeMismatch, writeFailed
        case missingShard, duplicateTensor, invalidIndex
    }

    public let kind: Kind
    public let file: String
    public let tensor: String?
    public let detail: String

    public init(_ kind: Kind, file: String, tensor: String? = nil, _ detail: String) {
        self.kind = kind
        self.file = file
        self.tensor = tensor
        self.detail = detail
    }

    public var description: String {
        if let tensor { return "\(file): tensor '\(tensor)': \(detail)" }
        return "\(file): \(detail)"
    }
}
