import Foundation

/// Maps an array on every core, keeping the order: for CPU-bound work on
/// many small items (rewrapping a hundred thousand data keys).
enum ParallelMap {
    /// `transform` applied to each element; the first error (by position) is rethrown.
    static func run<Element: Sendable, Result: Sendable>(
        _ elements: [Element], _ transform: @Sendable (Element) throws -> Result
    ) throws -> [Result] {
        let workers = Swift.max(1, Swift.min(ProcessInfo.processInfo.activeProcessorCount, elements.count / 256))
        let chunk = (elements.count + workers - 1) / Swift.max(workers, 1)
        let slots = ResultSlots<Result>(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let range = (worker * chunk)..<Swift.min(elements.count, (worker + 1) * chunk)
            slots.set(worker, Swift.Result { try elements[range].map(transform) })
        }
        return try slots.all().flatMap { try $0.get() }
    }

    /// Runs `background` on a thread of its own while `foreground` runs on
    /// the calling thread, and returns both results once both are done (the
    /// first error, `foreground`'s before `background`'s, is rethrown).
    static func both<A: Sendable, B>(
        _ background: @escaping @Sendable () throws -> A, _ foreground: () throws -> B
    ) throws -> (A, B) {
        let slot = ResultSlots<A>(count: 1)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            slot.set(0, Swift.Result { [try background()] })
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
        let foregroundResult = Swift.Result { try foreground() }
        done.wait()
        let b = try foregroundResult.get()
        let a = try slot.all()[0].get()[0]
        return (a, b)
    }

    /// One result per worker, written once each under a lock.
    private final class ResultSlots<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Swift.Result<[Value], any Error>?]

        init(count: Int) { values = Array(repeating: nil, count: count) }

        func set(_ index: Int, _ value: Swift.Result<[Value], any Error>) {
            lock.lock()
            values[index] = value
            lock.unlock()
        }

        func all() -> [Swift.Result<[Value], any Error>] {
            lock.lock()
            defer { lock.unlock() }
            return values.map { $0 ?? .success([]) }
        }
    }
}
