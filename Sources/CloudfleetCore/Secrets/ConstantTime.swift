/// Comparisons whose running time does not depend on where two values first differ.
public enum ConstantTime {
    /// Whether `lhs` and `rhs` hold the same bytes. Takes time proportional to their length only;
    /// a length mismatch answers `false` at once (lengths are public: digests have a fixed size).
    public static func equals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        // One loop for both forms: the callers of this one are off the hot path.
        return Array(lhs).withUnsafeBytes { lhs in Array(rhs).withUnsafeBytes { equals(lhs, $0) } }
    }

    /// The same over raw bytes, such as a digest's, without the generic iteration (about 300 instructions of each
    /// Basic authentication).
    public static func equals(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<lhs.count {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }
}
