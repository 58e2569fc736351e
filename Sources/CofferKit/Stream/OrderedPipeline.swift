import Foundation

/// Runs a sequence of jobs on several threads and hands their results back
/// in order, with a bounded number in flight so memory stays constant.
///
/// - `next` is called under a lock, one call at a time, in job order: it
///   reads the next input (a segment of a file or of standard input) and
///   returns nil at the end.
/// - `process` runs concurrently on `width` threads (encryption, hashing,
///   object writes).
/// - `consume` runs on the calling thread, strictly in job order (writing
///   plaintext to a stream, collecting object ids).
///
/// An error stops the pipeline: no new job starts, jobs already running
/// finish, every result before the failed job is still consumed in order,
/// and then the error is rethrown. (A reader of a damaged stream thus gets
/// exactly the authentic prefix, whatever the thread timing.)
enum OrderedPipeline {
    /// Runs the pipeline to completion.
    /// - Parameters:
    ///   - width: worker threads.
    ///   - window: most jobs read but not yet consumed (at least `width`).
    static func run<Job, Result>(
        width: Int,
        window: Int,
        next: @escaping () throws -> Job?,
        process: @escaping (Job) throws -> Result,
        consume: (Result) throws -> Void
    ) throws {
        let workers = Swift.max(1, width)
        let shared = Shared<Job, Result>(
            window: Swift.max(window, workers), workers: workers, next: next, process: process)
        for _ in 0..<workers {
            let thread = Thread { shared.work() }
            thread.stackSize = 1 << 20
            thread.start()
        }
        defer { shared.finishAndWait() }
        var index = 0
        while let result = try shared.take(index) {
            try consume(result)
            index += 1
        }
    }

    private final class Shared<Job, Result>: @unchecked Sendable {
        private let condition = NSCondition()
        private let window: Int
        /// The caller's closures, dropped by `finishAndWait` so that what they
        /// capture (a database connection, a file) is released on the calling
        /// thread before `run` returns, never later on a worker thread.
        private var next: (() throws -> Job?)?
        private var process: ((Job) throws -> Result)?
        private var nextIndex = 0
        private var consumed = 0
        private var inputEnded = false
        private var total: Int?
        private var results: [Int: Result] = [:]
        /// The earliest failed job and its error.
        private var failure: (index: Int, error: any Error)?
        private var stopping = false
        private var running = 0

        init(window: Int, workers: Int, next: @escaping () throws -> Job?, process: @escaping (Job) throws -> Result) {
            self.window = window
            running = workers
            self.next = next
            self.process = process
        }

        func work() {
            defer {
                condition.lock()
                running -= 1
                condition.broadcast()
                condition.unlock()
            }
            while true {
                condition.lock()
                while !stopping && !inputEnded && nextIndex - consumed >= window { condition.wait() }
                guard !stopping, !inputEnded, let next, let process else { condition.unlock(); return }
                let index = nextIndex
                let job: Job?
                do {
                    job = try next()
                } catch {
                    fail(error, at: index)
                    condition.unlock()
                    return
                }
                guard let job else {
                    inputEnded = true
                    total = index
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                nextIndex += 1
                condition.unlock()
                do {
                    let result = try process(job)
                    condition.lock()
                    results[index] = result
                    condition.broadcast()
                    condition.unlock()
                } catch {
                    condition.lock()
                    fail(error, at: index)
                    condition.unlock()
                    return
                }
            }
        }

        /// Caller holds the lock.
        private func fail(_ error: any Error, at index: Int) {
            if failure == nil || index < failure!.index { failure = (index, error) }
            stopping = true
            condition.broadcast()
        }

        /// Waits for result `index`; nil once every job has been consumed.
        func take(_ index: Int) throws -> Result? {
            condition.lock()
            defer { condition.unlock() }
            while true {
                if let result = results.removeValue(forKey: index) {
                    consumed = index + 1
                    condition.broadcast()
                    return result
                }
                // Jobs before the failed one were all started; wait for them.
                if let failure, index >= failure.index { throw failure.error }
                if let total, index >= total { return nil }
                condition.wait()
            }
        }

        /// Stops the workers (if still running) and waits for them to exit.
        func finishAndWait() {
            condition.lock()
            stopping = true
            condition.broadcast()
            while running > 0 { condition.wait() }
            results.removeAll()
            next = nil
            process = nil
            condition.unlock()
        }
    }
}
