/// Secret-holding types print their kind only, never their bytes, in every Swift printing path.
package protocol RedactedSecret: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// What to print instead of the secret, for example "Ed25519.PrivateKey".
    static var redactedName: String { get }
}

extension RedactedSecret {
    public var description: String { "\(Self.redactedName)(redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
