import Crypto
public import Foundation
import Inference
public import Jobs

/// Makes and checks API keys. A key is `gik_` + 43 base64url characters (32 random bytes); only
/// its SHA-256 is stored, so a copy of the database does not give anyone a working key.
public enum APIKeys {
    /// A new key and the record to store. The key is returned once and cannot be recovered.
    public static func make(name: String, scope: APIKeyScope, now: Date = Date()) -> (key: String, record: APIKeyRecord) {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let key =
            "gik_"
            + bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let id = "key_" + UUID().uuidString.lowercased().prefix(8)
        return (key, APIKeyRecord(id: String(id), name: name, scope: scope, hash: hash(key), prefix: String(key.prefix(8)), createdAt: now))
    }

    /// Hex SHA-256 of a key.
    public static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).lowercaseHex
    }
}

/// Who is calling: a key, or nobody on a server that lets anonymous callers in (loopback).
enum Caller: Sendable {
    case anonymous
    case key(APIKeyRecord)

    /// The owner to filter lists by: nil for admins and anonymous local callers, who see every job.
    var listFilter: String? {
        if case .key(let k) = self, k.scope != .admin { return k.id }
        return nil
    }

    func maySee(_ job: JobRecord) -> Bool {
        guard let filter = listFilter else { return true }
        return job.ownerKeyID == filter
    }
}
