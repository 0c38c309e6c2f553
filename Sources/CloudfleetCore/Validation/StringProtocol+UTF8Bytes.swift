extension StringProtocol {
    /// Calls `body` with the string's UTF-8 bytes, in place where they are contiguous (native and small strings, so
    /// every string a parser of credentials meets), else from a copy. Unlike `String.withUTF8`, it needs no mutable
    /// copy of the string, which cost a retain and a release on each call of the authentication path.
    func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let result = try utf8.withContiguousStorageIfAvailable(body) { return result }
        return try Array(utf8).withUnsafeBufferPointer(body)
    }
}
