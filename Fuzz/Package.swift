// swift-tools-version:6.0
// The libFuzzer targets for CofferKit's parsers (docs/TESTING.md). A package of
// its own, so that the product package keeps only CofferKit and `coffer`. It
// builds only with the flags scripts/fuzz passes (`-sanitize=fuzzer,address`),
// which instrument CofferKit too.
import PackageDescription

let package = Package(
    name: "CofferFuzz",
    dependencies: [
        .package(name: "Coffer", path: ".."),
    ],
    targets: [
        // libFuzzer's LLVMFuzzerRunDriver, declared for Swift.
        .systemLibrary(name: "CFuzzer"),
        .executableTarget(
            name: "coffer-fuzz",
            dependencies: ["CFuzzer", .product(name: "CofferKit", package: "Coffer")],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
