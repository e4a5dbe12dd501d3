import Foundation
import GRDB

/// A time as GRDB stores a `Date` (UTC text, `yyyy-MM-dd HH:mm:ss.SSS`, to the nearest
/// millisecond), written here by arithmetic instead of through GRDB's `DateFormatter`, which costs more
/// than the rest of a row's columns together. The same text for every time from 1970 to 9999
/// (tested against GRDB's); any other time is left to GRDB's formatter. Read back as a `Date`.
struct StoredTime: DatabaseValueConvertible {
    /// The time.
    let date: Date

    /// The time `date`.
    init(_ date: Date) { self.date = date }

    /// The time's text, as GRDB writes it.
    var databaseValue: DatabaseValue {
        Self.text(date)?.databaseValue ?? date.databaseValue
    }

    /// A stored time, read as GRDB reads a `Date`.
    static func fromDatabaseValue(_ dbValue: DatabaseValue) -> StoredTime? {
        Date.fromDatabaseValue(dbValue).map(StoredTime.init)
    }

    /// Milliseconds since 1970 of 1970-01-01 and of 10000-01-01: the range written here.
    private static let range: Range<Double> = 0..<253_402_300_800_000

    /// `date` as GRDB's text, or nil outside 1970–9999. The milliseconds are those its formatter
    /// takes: the time since 1970 in milliseconds, computed from the time since 2001 as Foundation
    /// computes it, rounded to the nearest.
    static func text(_ date: Date) -> String? {
        let milliseconds = ((date.timeIntervalSinceReferenceDate + 978_307_200.0) * 1000.0).rounded()
        guard milliseconds.isFinite, range.contains(milliseconds) else { return nil }
        let ms = Int64(milliseconds)
        let days = ms / 86_400_000
        let inDay = ms % 86_400_000
        // Days since 1970 to the civil date (proleptic Gregorian; from 1970 on, the calendar's own).
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var bytes = [UInt8](repeating: 0, count: 23)
        func put(_ value: Int64, at start: Int, digits: Int) {
            var v = value
            for i in stride(from: start + digits - 1, through: start, by: -1) {
                bytes[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
        }
        put(year, at: 0, digits: 4)
        put(month, at: 5, digits: 2)
        put(day, at: 8, digits: 2)
        put(inDay / 3_600_000, at: 11, digits: 2)
        put(inDay / 60_000 % 60, at: 14, digits: 2)
        put(inDay / 1000 % 60, at: 17, digits: 2)
        put(inDay % 1000, at: 20, digits: 3)
        for (i, c) in [(4, "-"), (7, "-"), (10, " "), (13, ":"), (16, ":"), (19, ".")] as [(Int, Unicode.Scalar)] {
            bytes[i] = UInt8(ascii: c)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
