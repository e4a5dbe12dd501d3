import Foundation
import Jobs
import Testing

/// Names a client sends are hostile: whatever they are, the stored name is short, safe, unique and
/// never traps.
@Suite struct FileNamesTests {
    static func isSafe(_ name: String) -> Bool {
        !name.isEmpty && name.count <= FileNames.maxLength && !name.hasPrefix(".") && !name.hasPrefix("-")
            && name.unicodeScalars.allSatisfy {
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_".unicodeScalars.contains($0)
            }
    }

    @Test func theReportedNames() {
        // An extension longer than the cap, one just under it, and the longest name with a duplicate.
        for name in [
            "x." + String(repeating: "b", count: 130), "x." + String(repeating: "b", count: 119),
            String(repeating: "a", count: 116) + ".tif", String(repeating: "a", count: 300) + ".tif", "....", "/", "\u{0}.tif",
        ] {
            let once = FileNames.sanitize(name)
            #expect(Self.isSafe(once), "\(name.prefix(20))… → \(once)")
            var taken = UniqueNames()
            let names = (0..<12).map { _ in taken.add(name) }
            #expect(names.allSatisfy(Self.isSafe), "\(names)")
            #expect(Set(names.map { $0.lowercased() }).count == 12, "\(names)")
        }
        #expect(FileNames.sanitize(String(repeating: "a", count: 300) + ".tif").hasSuffix(".tif"))
        var taken = UniqueNames()
        _ = taken.add(String(repeating: "a", count: 200) + ".tif")
        #expect(taken.add(String(repeating: "a", count: 200) + ".tif").hasSuffix("-2.tif"))
    }

    /// Thousands of random names over an adversarial alphabet: dots, slashes, NUL and control
    /// characters, combining marks, emoji, right-to-left text, and lengths up to 1,000.
    @Test func randomNamesAreAlwaysSafeAndUnique() {
        let alphabet: [Character] = Array("aZ9._-/\\ .\u{0}\u{7}\n\r\t\u{202E}é\u{301}字🙂..tif") + ["\u{FEFF}", "\u{200B}"]
        var state: UInt64 = 42
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % n
        }
        var taken = UniqueNames()
        for i in 0..<5000 {
            let length = next(4) == 0 ? 100 + next(900) : next(40)
            let name = String((0..<length).map { _ in alphabet[next(alphabet.count)] })
            let safe = FileNames.sanitize(name)
            #expect(Self.isSafe(safe), "\(i): \(safe)")
            #expect(FileNames.sanitize(safe) == safe, "sanitising is idempotent: \(safe)")
            let unique = taken.add(name)
            #expect(Self.isSafe(unique), "\(i): \(unique)")
        }
        #expect(taken.count == 5000)
    }

    /// Ten thousand files of one name (such an upload once took 54 s, trying suffixes from -2 each
    /// time): every name distinct and numbered in order.
    @Test func manyFilesOfOneNameStayUniqueInLinearWork() {
        var names = UniqueNames()
        let given = (0..<10_000).map { _ in names.add("same.tif") }
        #expect(Set(given.map { $0.lowercased() }).count == 10_000)
        #expect(given[1] == "same-2.tif" && given[9_999] == "same-10000.tif")
        // A name that happens to equal a generated one is skipped over, not reused.
        #expect(names.add("same-10001.tif") == "same-10001.tif" && names.add("same.tif") == "same-10002.tif")
    }
}
