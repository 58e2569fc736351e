// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Coffer",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "CofferKit", targets: ["CofferKit"]),
        .executable(name: "coffer", targets: ["coffer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 (object names, bundle checksums, age) on BoringSSL's
        // processor-specific code.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .systemLibrary(name: "CPlatform"),
        .systemLibrary(
            name: "CSQLite",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .target(
            name: "CofferKit",
            dependencies: [
                "CSodium",
                "CSQLite",
                "CPlatform",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "coffer",
            dependencies: [
                "CofferKit",
                "CPlatform",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What both test targets share: starting child processes safely.
        .target(name: "CofferTestSupport", dependencies: ["CPlatform"], path: "Tests/Support"),
        .testTarget(
            name: "CofferKitTests",
            dependencies: ["CofferKit", "CSodium", "CPlatform", "CofferTestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "CofferTests", dependencies: ["coffer", "CofferKit", "CofferTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
    ]
}
