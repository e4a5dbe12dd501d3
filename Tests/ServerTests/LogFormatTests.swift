import Foundation
import Testing

@testable import Server

@Suite struct LogFormatTests {
    @Test(arguments: ["plain", "quote \" and backslash \\", "line\nbreak\ttab\r", "nul \u{0} bell \u{7} esc \u{1B}", "naïve 東京 🌲", ""])
    func stringsRoundTripThroughJSON(_ text: String) throws {
        var out = ""
        JSONLogHandler.append(text, to: &out)
        let parsed = try JSONSerialization.jsonObject(with: Data("[\(out)]".utf8)) as? [String]
        #expect(parsed == [text])
    }
}
