import Foundation
import Testing

@testable import CofferKit

@Suite("Ordered pipeline")
struct OrderedPipelineTests {
    /// Records the thread its last reference was dropped on.
    final class Witness: @unchecked Sendable {
        let released: Released
        init(_ released: Released) { self.released = released }
        deinit { released.mark() }
    }

    final class Released: @unchecked Sendable {
        private let lock = NSLock()
        private var thread: Thread?
        func mark() { lock.withLock { thread = Thread.current } }
        var onThread: Thread? { lock.withLock { thread } }
    }

    @Test("results come back in order, and what the closures capture is released on the calling thread")
    func orderAndRelease() throws {
        for _ in 0..<50 {
            let released = Released()
            var produced = 0
            var consumed: [Int] = []
            do {
                let witness = Witness(released)
                try OrderedPipeline.run(
                    width: 2, window: 4,
                    next: { [witness] in
                        _ = witness
                        defer { produced += 1 }
                        return produced < 100 ? produced : nil
                    },
                    process: { $0 * 2 },
                    consume: { consumed.append($0) })
            }
            #expect(consumed == (0..<100).map { $0 * 2 })
            // A worker thread that still held the closure would release it,
            // and close whatever it captured, after `run` had returned.
            #expect(released.onThread === Thread.current)
        }
    }

    @Test("an error stops the pipeline after every earlier result is consumed")
    func errorAfterPrefix() throws {
        struct Stop: Error {}
        var next = 0
        var consumed: [Int] = []
        #expect(throws: Stop.self) {
            try OrderedPipeline.run(
                width: 2, window: 4,
                next: { defer { next += 1 }; return next },
                process: { job in if job == 10 { throw Stop() }; return job },
                consume: { consumed.append($0) })
        }
        #expect(consumed == Array(0..<10))
    }
}
