import CloudfleetCore

extension Role {
    /// The tokens of each role, from what the stores keep (migration 6): the number of all tokens and of
    /// Administrators. A new role must be counted in the stores first; this switch then fails to compile until it is.
    public static func counts(all: Int, administrators: Int) -> [Role: Int] {
        Dictionary(
            uniqueKeysWithValues: allCases.map { role in
                switch role {
                case .administrator: (role, administrators)
                case .user: (role, all - administrators)
                }
            })
    }
}
