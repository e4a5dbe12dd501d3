import Foundation
import Testing

@testable import Workers

/// The results a worker process keeps decoded for its jobs' finalize: used only when the stored
/// bytes are the ones kept, taken out once, and bounded in bytes.
@Suite struct RecentResultsTests {
    func data(_ text: String) -> Data { Data(text.utf8) }

    @Test func aKeptResultIsUsedOnlyForTheSameStoredBytes() {
        let recent = RecentResults<String>()
        recent.keep(job: "j", file: 1, data: data("one"), result: "decoded one")
        recent.keep(job: "j", file: 2, data: data("two"), result: "decoded two")
        // File 2 ran again elsewhere (other bytes), file 3 was never kept here, file 1 is as kept.
        let taken = recent.take(job: "j", stored: [(1, data("one")), (2, data("two, again")), (3, data("three")), (nil, data("one"))])
        #expect(taken == ["decoded one", nil, nil, nil])
        // Taken out: the next finalize of the job decodes everything.
        #expect(recent.take(job: "j", stored: [(1, data("one"))]) == [nil])
        #expect(recent.keptBytes == 0)
    }

    @Test func theJobsKeptLongestMakeRoomAndTheBoundHolds() {
        let recent = RecentResults<Int>(maxBytes: 10)
        recent.keep(job: "old", file: 1, data: data("aaaa"), result: 1)
        recent.keep(job: "new", file: 1, data: data("bbbb"), result: 2)
        #expect(recent.keptBytes == 8)
        // Room for this one is made by forgetting the job kept longest.
        recent.keep(job: "newer", file: 1, data: data("cccc"), result: 3)
        #expect(recent.keptBytes == 8)
        #expect(recent.take(job: "old", stored: [(1, data("aaaa"))]) == [nil])
        #expect(recent.take(job: "new", stored: [(1, data("bbbb"))]) == [2])
        // A job never drops its own results to keep more of itself: past the bound, it keeps its first files.
        recent.keep(job: "newer", file: 2, data: data("dddd"), result: 4)
        recent.keep(job: "newer", file: 3, data: data("eeee"), result: 5)
        #expect(recent.keptBytes <= 10)
        #expect(recent.take(job: "newer", stored: [(1, data("cccc")), (2, data("dddd")), (3, data("eeee"))]) == [3, 4, nil])
        // Larger than the whole bound: not kept at all.
        recent.keep(job: "big", file: 1, data: Data(count: 11), result: 6)
        #expect(recent.keptBytes == 0)
    }

    @Test func keepingAFileAgainReplacesItsBytes() {
        let recent = RecentResults<String>(maxBytes: 100)
        recent.keep(job: "j", file: 1, data: data("first"), result: "a")
        recent.keep(job: "j", file: 1, data: data("second!"), result: "b")
        #expect(recent.keptBytes == 7)
        #expect(recent.take(job: "j", stored: [(1, data("second!"))]) == ["b"])
    }
}

/// The finalize's results in order, some kept and the others decoded a share per core.
@Suite struct DecodeResultsTests {
    @Test func keptAndDecodedResultsKeepTheirPlaces() throws {
        // 300 results, every third kept: more than one share is decoded.
        let stored = (0..<300).map { Data("\($0)".utf8) }
        let kept: [Int?] = (0..<300).map { $0 % 3 == 0 ? $0 : nil }
        #expect(try WorkerPool.decodeResults(stored, kept: kept, as: Int.self) == Array(0..<300))
        // Nothing kept, and everything kept.
        #expect(try WorkerPool.decodeResults(stored, kept: [], as: Int.self) == Array(0..<300))
        #expect(try WorkerPool.decodeResults([Data("7".utf8)], kept: [7], as: Int.self) == [7])
        // A stored result that does not decode fails the finalize (retried at the next start).
        #expect(throws: DecodingError.self) {
            _ = try WorkerPool.decodeResults([Data("1".utf8), Data("not json".utf8)], kept: [], as: Int.self)
        }
    }
}
