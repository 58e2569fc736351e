// One libFuzzer binary for every CofferKit parser. COFFER_FUZZ_TARGET names
// the target (see `FuzzEntryPoints.targets`); the arguments are libFuzzer's.
// scripts/fuzz sets the variable; by hand:
//   COFFER_FUZZ_TARGET=age-header .build-fuzz/release/coffer-fuzz Fuzz/corpus/age-header
// With COFFER_FUZZ_SEEDS=DIR instead, it writes the seed corpus
// (`FuzzEntryPoints.seeds`) to DIR/<target>/ and exits.
//
// SwiftPM links an executable target's entry point as `main`, so libFuzzer's
// own `main` is not used: this one selects the target, then hands the
// arguments to LLVMFuzzerRunDriver.
import CFuzzer
@_spi(Fuzzing) import CofferKit
import Foundation

/// The entry point chosen at start-up (written once, before the driver runs).
nonisolated(unsafe) private var selected: @Sendable ([UInt8]) -> Void = { _ in }

@main
enum CofferFuzz {
    static func main() {
        if let directory = ProcessInfo.processInfo.environment["COFFER_FUZZ_SEEDS"] {
            exit(writeSeeds(into: directory))
        }
        guard let target = chosenTarget() else { exit(2) }
        selected = target
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            selected(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        })
    }

    /// The entry point `COFFER_FUZZ_TARGET` names; nil, with a message, for none.
    /// (A function of its own, so that its strings are freed before the
    /// driver runs and never reported as leaks at exit.)
    private static func chosenTarget() -> (@Sendable ([UInt8]) -> Void)? {
        let name = ProcessInfo.processInfo.environment["COFFER_FUZZ_TARGET"] ?? ""
        if let target = FuzzEntryPoints.targets[name] { return target }
        let names = FuzzEntryPoints.targets.keys.sorted().joined(separator: " ")
        FileHandle.standardError.write(Data("set COFFER_FUZZ_TARGET to one of: \(names)\n".utf8))
        return nil
    }

    /// Writes each target's seeds as DIR/<target>/seed-<n>; 0 on success.
    private static func writeSeeds(into directory: String) -> Int32 {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-fuzz-seeds-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            for (target, inputs) in try FuzzEntryPoints.seeds(scratch: scratch.path) {
                let folder = URL(fileURLWithPath: directory).appendingPathComponent(target)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for (index, input) in inputs.enumerated() {
                    try Data(input).write(to: folder.appendingPathComponent("seed-\(index)"))
                }
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("writing seeds: \(error)\n".utf8))
            return 1
        }
    }
}
