/// STUB: the binary codec (encode(_:) -> [UInt8], decode(_:) throws(DecodeError) -> Message).
public enum WireCodec {
    public static func encode(_ message: Message) -> [UInt8] { fatalError("stub") }
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Message { throw .truncated }
}

/// Why a frame was not a valid message. Each case is counted by the receiver.
public enum DecodeError: Error, Sendable, Hashable {
    case truncated
    case badMagic
    case badVersion(UInt8)
    case unknownType(UInt8)
    case fieldTooLong(String)
    case invalid(String)
    case trailingBytes
}
