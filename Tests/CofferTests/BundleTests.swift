import Foundation
import Testing

/// Transfer bundles end to end: the real coffer binary makes them, and the
/// stock age, tar, sha256sum and minisign open and check them.
@Suite("Transfer bundles")
struct BundleTests {
    /// Sizes around the 64 KiB age chunk boundary.
    static let sizes = [0, 1, 65535, 65536, 65537, 131072]

    /// A vault with one document per size (`docs/size-N.bin`), a partner
    /// `acme` (age-keygen identity `acme.txt`), and the sender's minisign key `sender.pub`.
    static func setUp() throws -> CLIHarness {
        let cli = try CLIHarness()
        try cli.initVault(name: "sender")
        for size in sizes { try cli.write("docs/size-\(size).bin", pattern(size, seed: UInt64(size))) }
        try cli.ok(["seal", cli.path("docs")])
        for partner in ["acme", "globex"] {
            try cli.execute("/usr/bin/age-keygen", ["-o", cli.path("\(partner).txt")])
            let recipient = try cli.execute("/usr/bin/age-keygen", ["-y", cli.path("\(partner).txt")]).text
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try cli.ok(["partner", "add", partner, recipient])
        }
        try cli.write("sender.pub", try cli.ok(["identity", "show", "--minisign"]).stdout)
        return cli
    }

    static func shell(_ cli: CLIHarness, _ script: String) throws -> CLIHarness.Result {
        try cli.execute("/bin/sh", ["-c", "cd '\(cli.root)' && " + script])
    }

    static var documentNames: [String] { sizes.map { "docs/size-\($0).bin" } }

    @Test("partners open a bundle with stock age, tar, sha256sum and minisign")
    func stockTools() throws {
        let cli = try Self.setUp()
        let created = try #require(try cli.ok(["bundle", "create"] + Self.documentNames
            + ["--to", "acme", "--to", "globex", "--expires", "30d", "--note", "for review", "-o", cli.path("out.age"), "--json"]).json() as? [String: Any])
        #expect((created["files"] as? [Any])?.count == Self.sizes.count)
        #expect(created["recipients"] as? [String] == ["acme", "globex"])
        for partner in ["acme", "globex"] {
            let extract = try Self.shell(cli, "mkdir \(partner) && age -d -i \(partner).txt out.age | tar -x -C \(partner)")
            #expect(extract.status == 0, "\(extract.stderr)")
            for size in Self.sizes {
                #expect(FileManager.default.contents(atPath: cli.path("\(partner)/docs/size-\(size).bin")) == pattern(size, seed: UInt64(size)))
            }
            let sums = try Self.shell(cli, "cd \(partner) && sha256sum -c SHA256SUMS")
            #expect(sums.status == 0, "\(sums.text) \(sums.stderr)")
            #expect(sums.text.components(separatedBy: ": OK").count - 1 == Self.sizes.count)
            let signature = try Self.shell(cli, "cd \(partner) && minisign -Vm MANIFEST.json -p ../sender.pub")
            #expect(signature.status == 0, "\(signature.stderr)")
            #expect(signature.text.contains("coffer bundle"), "\(signature.text)")
        }
        let manifest = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: cli.path("acme/MANIFEST.json")))) as? [String: Any])
        #expect(manifest["note"] as? String == "for review")
        #expect((manifest["sender"] as? [String: Any])?["name"] as? String == "sender")
        // Keyless inspection sees two X25519 recipients and nothing else.
        let inspected = try #require(try cli.ok(["bundle", "inspect", cli.path("out.age"), "--json"]).json() as? [String: Any])
        #expect(inspected["recipients"] as? [String] == ["X25519", "X25519"])
        #expect(try cli.run(["verify"]).status == Exit.ok)
    }

    @Test("a post-quantum partner (age1pq1…) gets a bundle only its key opens, checked by tar, sha256sum and minisign; never mixed with a classic partner; a cut key is refused")
    func postQuantumPartner() throws {
        let cli = try Self.setUp()
        try cli.ok(["age", "keygen", "--pq", "-o", cli.path("initech.txt")])
        let recipient = try cli.ok(["age", "keygen", "-y", cli.path("initech.txt")]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        for bad in [String(recipient.dropLast(1)), String(recipient.prefix(60))] {
            let refused = try cli.run(["partner", "add", "bad", bad])
            #expect(refused.status == Exit.usage && refused.stderr.contains("age1pq1"), "\(refused.stderr)")
        }
        try cli.ok(["partner", "add", "initech", recipient])
        let listed = try #require(try cli.ok(["partner", "list", "--json"]).json() as? [[String: Any]])
        #expect(listed.contains { $0["name"] as? String == "initech" && $0["recipient"] as? String == recipient })

        let mixed = try cli.run(["bundle", "create", "docs/size-1.bin", "--to", "initech", "--to", "acme", "-o", cli.path("mixed.age")])
        #expect(mixed.status == Exit.usage && mixed.stderr.contains("can't mix post-quantum and classic"), "\(mixed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("mixed.age")))

        try cli.ok(["bundle", "create"] + Self.documentNames + ["--to", "initech", "-o", cli.path("pq.age")])
        let inspected = try #require(try cli.ok(["bundle", "inspect", cli.path("pq.age"), "--json"]).json() as? [String: Any])
        #expect(inspected["recipients"] as? [String] == ["mlkem768x25519"])
        let extract = try Self.shell(cli, "mkdir pq && '\(CLIHarness.binary)' age decrypt -i initech.txt pq.age | tar -x -C pq && cd pq && sha256sum -c SHA256SUMS && minisign -Vm MANIFEST.json -p ../sender.pub")
        #expect(extract.status == 0, "\(extract.stderr)")
        for size in Self.sizes {
            #expect(FileManager.default.contents(atPath: cli.path("pq/docs/size-\(size).bin")) == pattern(size, seed: UInt64(size)))
        }
        #expect(try cli.run(["age", "decrypt", "-i", cli.path("acme.txt"), cli.path("pq.age")]).status == Exit.authentication)
        #expect(try cli.run(["verify"]).status == Exit.ok)
        #expect(try cli.run(["audit", "verify"]).status == Exit.ok)

        // Two administrators' commands add a post-quantum partner of one name at once: one entry, the other refused.
        try cli.ok(["age", "keygen", "--pq", "-o", cli.path("umbrella.txt")])
        let umbrella = try cli.ok(["age", "keygen", "-y", cli.path("umbrella.txt")]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let adds = try [recipient, umbrella].map { try cli.start(["partner", "add", "umbrella", $0]) }
        var statuses: [Int32] = []
        for add in adds {
            add.waitUntilExit()
            #expect(add.terminationReason == .exit)
            statuses.append(add.terminationStatus)
        }
        #expect(statuses.sorted() == [Exit.ok, Exit.usage], "\(statuses)")
        let partners = try #require(try cli.ok(["partner", "list", "--json"]).json() as? [[String: Any]])
        #expect(partners.filter { $0["name"] as? String == "umbrella" }.count == 1)
        let entries = try cli.ok(["audit", "log", "--json"]).text.split(separator: "\n")
        #expect(entries.filter { $0.contains("\"partner.add\"") && $0.contains("umbrella") }.count == 1)
    }

    @Test("bundle open --from a partner name uses the minisign key the vault recorded for that partner")
    func openFromPartner() throws {
        let cli = try Self.setUp()
        // A partner who signs what it sends: here the sender's own identity, recorded with its minisign key.
        let shown = try #require(try cli.ok(["identity", "show", "--json"]).json() as? [String: Any])
        try cli.ok(["partner", "add", "loopback", shown["age"] as! String, "--minisign-key", shown["minisign"] as! String])
        try cli.ok(["bundle", "create", "docs/size-1.bin", "--to", "loopback", "-o", cli.path("back.age")])
        let opened = try cli.run(["bundle", "open", cli.path("back.age"), "--from", "loopback", "-o", cli.path("from-partner")])
        #expect(opened.status == Exit.ok, "\(opened.stderr)")
        #expect(FileManager.default.contents(atPath: cli.path("from-partner/docs/size-1.bin")) == pattern(1, seed: 1))
        // acme was added without a minisign key; nobody is no partner; without a vault the name is just a bad key.
        let keyless = try cli.run(["bundle", "open", cli.path("back.age"), "--from", "acme", "-o", cli.path("x1")])
        #expect(keyless.status == Exit.usage && keyless.stderr.contains("without a minisign key"))
        let unknown = try cli.run(["bundle", "open", cli.path("back.age"), "--from", "nobody", "-o", cli.path("x2")])
        #expect(unknown.status == Exit.usage && unknown.stderr.contains("not a minisign key, a key file, or a partner"))
        let vaultless = try cli.run(["bundle", "open", cli.path("back.age"), "--from", "loopback", "-o", cli.path("x3")], environment: ["COFFER_VAULT": ""])
        #expect(vaultless.status != Exit.ok)
        #expect(!FileManager.default.fileExists(atPath: cli.path("x1")) && !FileManager.default.fileExists(atPath: cli.path("x3")))
    }

    @Test("coffer bundle open checks everything and writes only when all checks pass")
    func openWithCoffer() throws {
        let cli = try Self.setUp()
        try cli.ok(["bundle", "create"] + Self.documentNames + ["--to", "acme", "--armor", "-o", cli.path("out.age")])
        #expect(try String(contentsOfFile: cli.path("out.age"), encoding: .utf8).hasPrefix("-----BEGIN AGE ENCRYPTED FILE-----"))
        let opened = try cli.run(["bundle", "open", cli.path("out.age"), "-i", cli.path("acme.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("opened")])
        #expect(opened.status == Exit.ok, "\(opened.stderr)")
        for size in Self.sizes {
            #expect(FileManager.default.contents(atPath: cli.path("opened/docs/size-\(size).bin")) == pattern(size, seed: UInt64(size)))
        }
        #expect(FileManager.default.fileExists(atPath: cli.path("opened/MANIFEST.json.minisig")))
        // A trailing slash names the same new folder; an existing folder is refused (would overwrite: 7).
        try cli.ok(["bundle", "open", cli.path("out.age"), "-i", cli.path("acme.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("opened2") + "/"])
        #expect(FileManager.default.fileExists(atPath: cli.path("opened2/docs/size-1.bin")))
        #expect(try cli.run(["bundle", "open", cli.path("out.age"), "-i", cli.path("acme.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("opened")]).status == Exit.conflict)
        // The wrong partner key, the wrong sender key: refused, nothing written.
        let wrongKey = try cli.run(["bundle", "open", cli.path("out.age"), "-i", cli.path("globex.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("x1")])
        #expect(wrongKey.status == Exit.authentication, "\(wrongKey.stderr)")
        try cli.execute("/usr/bin/minisign", ["-G", "-W", "-p", cli.path("other.pub"), "-s", cli.path("other.key")])
        let wrongSender = try cli.run(["bundle", "open", cli.path("out.age"), "-i", cli.path("acme.txt"), "--from", cli.path("other.pub"), "-o", cli.path("x2")])
        #expect(wrongSender.status == Exit.integrity, "\(wrongSender.stderr)")
        for dir in ["x1", "x2"] { #expect(!FileManager.default.fileExists(atPath: cli.path(dir))) }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cli.root).filter { $0.hasPrefix(".coffer") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("a tampered bundle is refused with the integrity code and leaves nothing")
    func tampered() throws {
        let cli = try Self.setUp()
        try cli.ok(["bundle", "create"] + Self.documentNames + ["--to", "acme", "-o", cli.path("out.age")])
        let original = try Data(contentsOf: URL(fileURLWithPath: cli.path("out.age")))
        // Header MAC, the first payload chunk, the middle, the last bytes.
        let header = original.range(of: Data("\n---".utf8))!.lowerBound
        for offset in [header + 8, header + 80, original.count / 2, original.count - 1] {
            var damaged = original
            damaged[offset] ^= 0x01
            try cli.write("damaged.age", damaged)
            let result = try cli.run(["bundle", "open", cli.path("damaged.age"), "-i", cli.path("acme.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("out-\(offset)")])
            #expect(result.status == Exit.integrity, "offset \(offset): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: cli.path("out-\(offset)")))
        }
        // Cut short.
        try cli.write("short.age", original.prefix(original.count - 100))
        #expect(try cli.run(["bundle", "open", cli.path("short.age"), "-i", cli.path("acme.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("short")]).status == Exit.integrity)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cli.root).filter { $0.hasPrefix(".coffer") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("expired bundles are refused unless --allow-expired; passphrase bundles open with -p")
    func expiryAndPassphrase() throws {
        let cli = try Self.setUp()
        try cli.ok(["bundle", "create", "docs/size-1.bin", "--to", "acme", "--expires", "2020-01-01T00:00:00Z", "-o", cli.path("old.age")])
        let expired = try cli.run(["bundle", "open", cli.path("old.age"), "-i", cli.path("acme.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("old")])
        #expect(expired.status == Exit.integrity)
        #expect(expired.stderr.contains("expired"), "\(expired.stderr)")
        try cli.ok(["bundle", "open", cli.path("old.age"), "-i", cli.path("acme.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("old"), "--allow-expired"])

        try cli.write("bundle-pass", Data("correct horse\n".utf8))
        try cli.ok(["bundle", "create", "docs/size-65537.bin", "--passphrase", "--bundle-passphrase-file", cli.path("bundle-pass"), "-o", cli.path("pass.age")])
        let opened = try cli.run(["bundle", "open", cli.path("pass.age"), "-p", "--passphrase-file", cli.path("bundle-pass"), "--from", cli.path("sender.pub"), "-o", cli.path("pass")])
        #expect(opened.status == Exit.ok, "\(opened.stderr)")
        #expect(FileManager.default.contents(atPath: cli.path("pass/docs/size-65537.bin")) == pattern(65537, seed: 65537))
        #expect(try cli.ok(["bundle", "inspect", cli.path("pass.age")]).text.contains("scrypt"))
    }

    @Test("export above the limit needs --approve, and every bundle is traceable")
    func policyAndTrace() throws {
        let cli = try Self.setUp()
        try cli.write("plan.txt", Data("the crown jewels\n".utf8))
        try cli.ok(["seal", cli.path("plan.txt"), "--label", "trade-secret"])
        let refused = try cli.run(["bundle", "create", "plan.txt", "--to", "acme", "-o", cli.path("plan.age")])
        #expect(refused.status == Exit.accessDenied, "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("plan.age")))
        try cli.ok(["bundle", "create", "plan.txt", "--to", "acme", "--approve", "--note", "approved by legal", "-o", cli.path("plan.age")])
        try cli.ok(["bundle", "create", "plan.txt", "docs/size-1.bin", "--to", "globex", "--approve", "-o", cli.path("plan2.age")])
        // A leaked copy of the file: which bundles held it?
        let traced = try #require(try cli.ok(["bundle", "trace", cli.path("plan.txt"), "--json"]).json() as? [[String: Any]])
        #expect(traced.count == 2)
        #expect(traced.map { $0["recipients"] as? [String] ?? [] } == [["acme"], ["globex"]])
        let hash = try cli.execute("/usr/bin/sha256sum", [cli.path("docs/size-1.bin")]).text.prefix(64)
        let byHash = try #require(try cli.ok(["bundle", "trace", String(hash), "--json"]).json() as? [[String: Any]])
        #expect(byHash.count == 1)
        #expect(byHash.first?["name"] as? String == "docs/size-1.bin")
        #expect(try cli.ok(["bundle", "trace", String(repeating: "0", count: 64), "--json"]).json() as? [Any] != nil)
        #expect(try cli.run(["verify"]).status == Exit.ok)
    }

    @Test("the export limit chosen at init is enforced")
    func chosenExportLimit() throws {
        let cli = try CLIHarness()
        try cli.ok(["identity", "new", "--out", cli.environment["COFFER_IDENTITY"]!, "--name", "sender", "--no-passphrase"])
        let created = try #require(try cli.ok(["init", "--export-limit", "internal", "--json"]).json() as? [String: Any])
        #expect(created["exportLimit"] as? String == "internal")
        try cli.write("memo.txt", Data("memo".utf8))
        try cli.ok(["seal", cli.path("memo.txt"), "--label", "confidential"])
        try cli.execute("/usr/bin/age-keygen", ["-o", cli.path("p.txt")])
        let recipient = try cli.execute("/usr/bin/age-keygen", ["-y", cli.path("p.txt")]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["bundle", "create", "memo.txt", "--to", recipient, "-o", cli.path("m.age")]).status == Exit.accessDenied)
        try cli.ok(["bundle", "create", "memo.txt", "--to", recipient, "--approve", "-o", cli.path("m.age")])
        #expect(try cli.run(["init", "--vault", cli.path("v2"), "--export-limit", "nonsense"]).status == Exit.usage)
    }

    @Test("a signed bundle holding both x and x/y is malformed (5), in either order, and leaves nothing", arguments: [
        ["x", "x/y"], ["x/y", "x"], ["a/b/c", "a/b"],
    ])
    func fileAndFolder(names: [String]) throws {
        let cli = try Self.setUp()
        let bundle = try Self.handMade(cli, files: names.map { ($0, Data("content of \($0)".utf8)) })
        let result = try cli.run(["bundle", "open", bundle, "-i", cli.path("acme.txt"), "--from", cli.path("handmade.pub"), "-o", cli.path("out")])
        #expect(result.status == Exit.integrity, "\(result.stderr)")
        #expect(result.stderr.contains("is both a file and a folder"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("out")))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cli.root).filter { $0.hasPrefix(".coffer") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("unsafe paths inside a bundle are refused", arguments: ["../evil", "/etc/evil", "link"])
    func unsafePaths(name: String) throws {
        let cli = try Self.setUp()
        // A hostile sender builds the tar by hand and encrypts it to the partner.
        let recipient = try cli.execute("/usr/bin/age-keygen", ["-y", cli.path("acme.txt")]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let script = """
            import io, sys, tarfile
            with tarfile.open(sys.argv[1], 'w') as t:
                i = tarfile.TarInfo(sys.argv[2])
                if sys.argv[2] == 'link':
                    i.type = tarfile.SYMTYPE; i.linkname = '/etc/passwd'; t.addfile(i)
                else:
                    i.size = 4; t.addfile(i, io.BytesIO(b'evil'))
            """
        let made = try cli.execute("/usr/bin/env", ["python3", "-c", script, cli.path("evil.tar"), name])
        #expect(made.status == 0, "\(made.stderr)")
        try cli.execute("/usr/bin/age", ["-r", recipient, "-o", cli.path("evil.age"), cli.path("evil.tar")])
        let result = try cli.run(["bundle", "open", cli.path("evil.age"), "-i", cli.path("acme.txt"), "--from", cli.path("sender.pub"), "-o", cli.path("out")])
        #expect(result.status == Exit.integrity, "\(result.stderr)")
        #expect(result.stderr.contains("refusing"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("out")))
        #expect(!FileManager.default.fileExists(atPath: "/etc/evil"))
    }
}

extension BundleTests {
    /// A bundle built by hand, as a hostile or careless partner's own tool
    /// would: `files` in a tar with `SHA256SUMS` and a `MANIFEST.json` that
    /// lists them, signed with the stock minisign under a fresh key
    /// (`handmade.pub`), encrypted to `acme` with the stock age.
    /// - Returns: the bundle's path.
    static func handMade(_ cli: CLIHarness, files: [(String, Data)], sender: String = "partner") throws -> String {
        let directory = cli.path("handmade")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let listed = files.map { ["name": $0.0, "data": $0.1.base64EncodedString()] }
        try cli.write("handmade/files.json", try JSONSerialization.data(withJSONObject: ["files": listed, "sender": sender]))
        let manifestScript = """
            import base64, hashlib, json, sys
            d = sys.argv[1]
            spec = json.load(open(d + '/files.json'))
            files = [(f['name'], base64.b64decode(f['data'])) for f in spec['files']]
            listed = [{'name': n, 'size': len(b), 'sha256': hashlib.sha256(b).hexdigest()} for n, b in files]
            manifest = {'format': 'coffer-bundle-v1', 'bundle': '00' * 16,
                        'sender': {'name': spec['sender'], 'identity': 'none', 'minisignKey': 'none'},
                        'recipients': ['acme'], 'created': '2026-01-01T00:00:00Z', 'files': listed}
            open(d + '/MANIFEST.json', 'w').write(json.dumps(manifest, indent=2, sort_keys=True) + '\\n')
            open(d + '/SHA256SUMS', 'w').write(''.join(f"{f['sha256']}  {f['name']}\\n" for f in listed))
            """
        let tarScript = """
            import base64, io, json, sys, tarfile
            d = sys.argv[1]
            spec = json.load(open(d + '/files.json'))
            with tarfile.open(d + '/bundle.tar', 'w', format=tarfile.PAX_FORMAT) as t:
                def add(name, data):
                    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
                for f in spec['files']: add(f['name'], base64.b64decode(f['data']))
                for own in ['SHA256SUMS', 'MANIFEST.json', 'MANIFEST.json.minisig']: add(own, open(d + '/' + own, 'rb').read())
            """
        let made = try cli.execute("/usr/bin/env", ["python3", "-c", manifestScript, directory])
        guard made.status == 0 else { throw HarnessError("manifest: \(made.stderr)") }
        if !FileManager.default.fileExists(atPath: cli.path("handmade.key")) {
            try cli.execute("/usr/bin/minisign", ["-G", "-W", "-p", cli.path("handmade.pub"), "-s", cli.path("handmade.key")])
        }
        let signed = try cli.execute("/usr/bin/minisign", ["-S", "-s", cli.path("handmade.key"), "-m", directory + "/MANIFEST.json"])
        guard signed.status == 0 else { throw HarnessError("minisign: \(signed.stderr)") }
        let tarred = try cli.execute("/usr/bin/env", ["python3", "-c", tarScript, directory])
        guard tarred.status == 0 else { throw HarnessError("tar: \(tarred.stderr)") }
        let recipient = try cli.execute("/usr/bin/age-keygen", ["-y", cli.path("acme.txt")]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let output = cli.path("handmade-\(UUID().uuidString).age")
        try cli.execute("/usr/bin/age", ["-r", recipient, "-o", output, directory + "/bundle.tar"])
        try FileManager.default.removeItem(atPath: directory)
        return output
    }
}
