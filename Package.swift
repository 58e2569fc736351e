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
        // libpq: the shared backend's catalog and ledger in PostgreSQL (issue 13).
        .systemLibrary(
            name: "CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        // libcurl: the shared backend's S3 client, SigV4-signed (issue 13).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        // libgfshare: Shamir secret sharing over GF(2^8) for break-glass recovery (issue 16).
        .systemLibrary(
            name: "CGFShare",
            pkgConfig: "libgfshare",
            providers: [.apt(["libgfshare-dev"])]
        ),
        .target(
            name: "CofferKit",
            dependencies: [
                "CSodium",
                "CGFShare",
                "CSQLite",
                "CPlatform",
                "CPostgres",
                "CCurl",
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
