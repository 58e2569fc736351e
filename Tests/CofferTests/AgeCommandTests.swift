import Foundation
import Testing

/// `coffer age encrypt|decrypt` against the stock age 1.1.1, both ways, at
/// the 64 KiB chunk boundaries, plus exit codes and output-file safety.
@Suite("coffer age with the stock age", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/age")))
struct AgeCommandTests {
    static let age = "/usr/bin/age"
    static let sizes = [0, 1, 65535, 65536, 65537, 131072]

    /// A harness with an unencrypted Coffer identity and an age-keygen key.
    struct Setup {
        let cli: CLIHarness
        /// The age-keygen identity file and its recipient.
        let keyFile: String
        let recipient: String
        /// The Coffer identity's public identity (`coffer1…`).
        let cofferIdentity: String

        init() throws {
            cli = try CLIHarness()
            cofferIdentity = try cli.newIdentity()
            keyFile = cli.path("key.txt")
            let keygen = try cli.execute("/usr/bin/age-keygen", ["-o", keyFile])
            guard keygen.status == 0 else { throw HarnessError("age-keygen: \(keygen.stderr)") }
            recipient = String(try #require(keygen.stderr.split(separator: " ").last).trimmingCharacters(in: .whitespacesAndNewlines))
        }

        /// Reads a file in the scratch directory.
        func read(_ path: String) throws -> Data {
            try Data(contentsOf: URL(fileURLWithPath: path))
        }

        /// A new OpenSSH ed25519 key made by the stock ssh-keygen in the
        /// scratch directory (protected when `passphrase` is not empty); its
        /// path, with `.pub` beside it.
        func sshKey(_ name: String, passphrase: String = "", comment: String = "test") throws -> String {
            let key = cli.path(name)
            let made = try cli.execute("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", key])
            guard made.status == 0 else { throw HarnessError("ssh-keygen: \(made.stderr)") }
            return key
        }

        /// Runs the stock age on a pseudo-terminal (it reads passphrases only
        /// from one), typing `passphrase` at each of `prompts` prompts.
        func ageOnTerminal(_ arguments: [String], passphrase: String, prompts: Int) throws -> CLIHarness.Result {
            let command = ([AgeCommandTests.age] + arguments).joined(separator: " ")
            let typed = Data(String(repeating: passphrase + "\n", count: prompts).utf8)
            return try cli.execute("/usr/bin/script", ["-qec", command, "/dev/null"], stdin: typed, environment: ["TERM": "dumb"])
        }
    }

    @Test("age -r (two recipients) encrypts, coffer age decrypt -i opens it", arguments: sizes, [false, true])
    func ageToCoffer(_ size: Int, _ armored: Bool) throws {
        let s = try Setup()
        let plaintext = pattern(size, seed: UInt64(size) &+ 1)
        let plain = try s.cli.write("plain", plaintext)
        let other = try s.cli.execute("/usr/bin/age-keygen", ["-o", s.cli.path("other.txt")])
        let otherRecipient = String(other.stderr.split(separator: " ").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let encrypted = s.cli.path("file.age")
        let made = try s.cli.execute(Self.age, ["-r", otherRecipient, "-r", s.recipient] + (armored ? ["-a"] : []) + ["-o", encrypted, plain])
        #expect(made.status == 0, "\(made.stderr)")
        // From a path to a file, and from standard input to standard output.
        try s.cli.ok(["age", "decrypt", "-i", s.keyFile, "-o", s.cli.path("out"), encrypted])
        #expect(try s.read(s.cli.path("out")) == plaintext)
        let piped = try s.cli.ok(["age", "decrypt", "-i", s.keyFile], stdin: try s.read(encrypted))
        #expect(piped.stdout == plaintext)
    }

    @Test("coffer age encrypt to age1…, coffer1… and a recipients file; age -d and coffer both open it", arguments: sizes, [false, true])
    func cofferToAge(_ size: Int, _ armored: Bool) throws {
        let s = try Setup()
        let plaintext = pattern(size, seed: UInt64(size) &+ 2)
        try s.cli.write("recipients.txt", Data("# the partner\n\n\(s.recipient)\n".utf8))
        let encrypted = s.cli.path("file.age")
        try s.cli.ok(["age", "encrypt", "-r", s.cofferIdentity, "-R", s.cli.path("recipients.txt"), "-o", encrypted] + (armored ? ["-a"] : []),
                     stdin: plaintext)
        let file = try s.read(encrypted)
        #expect(file.starts(with: Data((armored ? "-----BEGIN AGE ENCRYPTED FILE-----\n" : "age-encryption.org/v1\n").utf8)))
        let opened = try s.cli.execute(Self.age, ["-d", "-i", s.keyFile, encrypted])
        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(opened.stdout == plaintext)
        // The Coffer identity (the default one) opens the same file.
        #expect(try s.cli.ok(["age", "decrypt", encrypted]).stdout == plaintext)
        #expect(try s.cli.ok(["age", "decrypt", "-i", s.cli.path("home/identity.txt"), encrypted]).stdout == plaintext)
    }

    @Test("age -p encrypts on a terminal, coffer age decrypt -p opens it", arguments: [false, true])
    func agePassphraseToCoffer(_ armored: Bool) throws {
        let s = try Setup()
        let plaintext = pattern(65537, seed: 3)
        let plain = try s.cli.write("plain", plaintext)
        let encrypted = s.cli.path("file.age")
        let made = try s.ageOnTerminal(["-p"] + (armored ? ["-a"] : []) + ["-o", encrypted, plain], passphrase: "correct horse", prompts: 2)
        #expect(made.status == 0, "\(made.text) \(made.stderr)")
        try s.cli.write("pass", Data("correct horse\n".utf8))
        #expect(try s.cli.ok(["age", "decrypt", "-p", "--passphrase-file", s.cli.path("pass"), encrypted]).stdout == plaintext)
        let wrong = try s.cli.run(["age", "decrypt", "-p", encrypted], environment: ["COFFER_PASSPHRASE": "wrong horse"])
        #expect(wrong.status == Exit.authentication, "\(wrong.stderr)")
        #expect(wrong.stdout.isEmpty)
    }

    @Test("an identity file encrypted by age -p (binary or armored) opens with its passphrase, as age does; a wrong one exits 3; one encrypted to a recipient exits 2", arguments: [false, true])
    func encryptedIdentityFile(_ armored: Bool) throws {
        let s = try Setup()
        let plaintext = pattern(70_000, seed: 10)
        let encrypted = s.cli.path("file.age")
        try s.cli.ok(["age", "encrypt", "-r", s.recipient, "-o", encrypted], stdin: plaintext)
        let protectedKey = s.cli.path("key.txt.age")
        let made = try s.ageOnTerminal(["-p"] + (armored ? ["-a"] : []) + ["-o", protectedKey, s.keyFile], passphrase: "key passphrase", prompts: 2)
        #expect(made.status == 0, "\(made.text) \(made.stderr)")
        try s.cli.write("pass", Data("key passphrase\n".utf8))
        #expect(try s.cli.ok(["age", "decrypt", "-i", protectedKey, "--passphrase-file", s.cli.path("pass"), encrypted]).stdout == plaintext)
        #expect(try s.cli.run(["age", "decrypt", "-i", protectedKey, encrypted], environment: ["COFFER_PASSPHRASE": "key passphrase"]).stdout == plaintext)
        let wrong = try s.cli.run(["age", "decrypt", "-i", protectedKey, encrypted], environment: ["COFFER_PASSPHRASE": "not it"])
        #expect(wrong.status == Exit.authentication && wrong.stdout.isEmpty, "\(wrong.stderr)")
        let toRecipient = s.cli.path("key.txt.to-recipient.age")
        try s.cli.ok(["age", "encrypt", "-r", s.recipient, "-o", toRecipient, s.keyFile])
        let refused = try s.cli.run(["age", "decrypt", "-i", toRecipient, encrypted])
        #expect(refused.status == Exit.usage && refused.stderr.contains("not with a passphrase"), "\(refused.stderr)")
    }

    @Test("ssh-ed25519 keys: the stock age encrypts to key.pub and coffer opens with the private key; coffer encrypts (-R and -r) and age opens; a protected key, an ssh-rsa recipient and another key are refused")
    func sshEd25519() throws {
        let s = try Setup()
        let plaintext = pattern(70_000, seed: 11)
        let plain = try s.cli.write("plain", plaintext)
        let key = try s.sshKey("id_ed25519", comment: "alice@example")
        let publicLine = try String(contentsOfFile: key + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

        let fromAge = s.cli.path("from-age.age")
        #expect(try s.cli.execute(AgeCommandTests.age, ["-R", key + ".pub", "-o", fromAge, plain]).status == 0)
        #expect(try s.cli.ok(["age", "decrypt", "-i", key, fromAge]).stdout == plaintext)

        for recipient in [["-R", key + ".pub"], ["-r", publicLine]] {
            let fromCoffer = s.cli.path("from-coffer.age")
            try s.cli.ok(["age", "encrypt"] + recipient + ["-o", fromCoffer, plain])
            let opened = try s.cli.execute(AgeCommandTests.age, ["-d", "-i", key, fromCoffer])
            #expect(opened.status == 0 && opened.stdout == plaintext, "\(recipient[0]): \(opened.stderr)")
            #expect(try s.cli.ok(["age", "decrypt", "-i", key, fromCoffer]).stdout == plaintext)
        }

        let other = try s.sshKey("other_ed25519")
        #expect(try s.cli.run(["age", "decrypt", "-i", other, fromAge]).status == Exit.authentication)
        let protected = try s.sshKey("protected_ed25519", passphrase: "a passphrase")
        let refused = try s.cli.run(["age", "decrypt", "-i", protected, fromAge])
        #expect(refused.status == Exit.usage && refused.stderr.contains("protected by a passphrase"), "\(refused.stderr)")
        let rsa = try s.cli.run(["age", "encrypt", "-r", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0 me", plain])
        #expect(rsa.status == Exit.usage && rsa.stderr.contains("ssh-rsa"), "\(rsa.stderr)")
    }

    @Test("age keygen writes what age-keygen writes (0600, never over a file, exit 7) and the stock age uses it; -y prints recipients as age-keygen -y, of ssh keys too")
    func keygen() throws {
        let s = try Setup()
        let key = s.cli.path("made.txt")
        let made = try s.cli.ok(["age", "keygen", "-o", key])
        var st = stat()
        #expect(stat(key, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let recipient = try #require(made.stderr.components(separatedBy: "Public key: ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try String(contentsOfFile: key, encoding: .utf8).contains("# public key: \(recipient)\n"))
        let stock = try s.cli.execute("/usr/bin/age-keygen", ["-y", key])
        #expect(stock.status == 0 && stock.text == recipient + "\n", "\(stock.stderr)")
        #expect(try s.cli.ok(["age", "keygen", "-y", key]).text == recipient + "\n")
        #expect(try s.cli.ok(["age", "keygen", "-y"], stdin: try s.read(key)).text == recipient + "\n")
        // The stock age encrypts to it and opens with it; so does coffer.
        let plain = try s.cli.write("plain", Data("made by keygen\n".utf8))
        let encrypted = s.cli.path("k.age")
        #expect(try s.cli.execute(AgeCommandTests.age, ["-r", recipient, "-o", encrypted, plain]).status == 0)
        #expect(try s.cli.execute(AgeCommandTests.age, ["-d", "-i", key, encrypted]).stdout == Data("made by keygen\n".utf8))
        #expect(try s.cli.ok(["age", "decrypt", "-i", key, encrypted]).stdout == Data("made by keygen\n".utf8))
        // Never over an existing file.
        let before = try s.read(key)
        #expect(try s.cli.run(["age", "keygen", "-o", key]).status == Exit.conflict)
        #expect(try s.read(key) == before)
        // To standard output (not a terminal): the file there, the public key on standard error.
        let printed = try s.cli.ok(["age", "keygen"])
        #expect(printed.text.contains("AGE-SECRET-KEY-1") && printed.stderr.hasPrefix("Public key: age1"))
        // An ssh key's recipient line.
        let ssh = try s.sshKey("id_ed25519")
        let publicLine = try String(contentsOfFile: ssh + ".pub", encoding: .utf8)
        #expect(try s.cli.ok(["age", "keygen", "-y", ssh]).text == publicLine.split(separator: " ").prefix(2).joined(separator: " ") + "\n")
        #expect(try s.cli.run(["age", "keygen", s.cli.path("x")]).status == Exit.usage)
    }

    @Test("age keygen --pq writes an AGE-SECRET-KEY-PQ-1 key (0600) whose age1pq1 recipient round-trips; mixing it with a classic recipient, --pq with -y, and a cut or altered recipient or file are refused")
    func postQuantumKeygen() throws {
        let s = try Setup()
        let key = s.cli.path("pq.txt")
        let made = try s.cli.ok(["age", "keygen", "--pq", "-o", key])
        var st = stat()
        #expect(stat(key, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let recipient = try #require(made.stderr.components(separatedBy: "Public key: ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(recipient.hasPrefix("age1pq1") && recipient.count > 1900, "\(recipient.prefix(20))… (\(recipient.count) characters)")
        let file = try String(contentsOfFile: key, encoding: .utf8)
        #expect(file.contains("# public key: \(recipient)\n") && file.contains("\nAGE-SECRET-KEY-PQ-1"))
        #expect(try s.cli.ok(["age", "keygen", "-y", key]).text == recipient + "\n")
        #expect(try s.cli.run(["age", "keygen", "--pq", "-y", key]).status == Exit.usage)

        let plaintext = pattern(200_000, seed: 21)
        let plain = try s.cli.write("plain", plaintext)
        let encrypted = s.cli.path("pq.age")
        try s.cli.ok(["age", "encrypt", "-r", recipient, "-o", encrypted, plain])
        let header = try s.read(encrypted).prefix(2000)
        #expect(String(decoding: header, as: UTF8.self).contains("-> mlkem768x25519 "))
        #expect(try s.cli.ok(["age", "decrypt", "-i", key, encrypted]).stdout == plaintext)
        // Another PQ key, and a classic one, do not match (3).
        let other = s.cli.path("other-pq.txt")
        try s.cli.ok(["age", "keygen", "--pq", "-o", other])
        #expect(try s.cli.run(["age", "decrypt", "-i", other, encrypted]).status == Exit.authentication)
        #expect(try s.cli.run(["age", "decrypt", "-i", s.keyFile, encrypted]).status == Exit.authentication)

        // Never a file a quantum computer could open: no mixing, as age.
        for arguments in [["-r", recipient, "-r", s.recipient], ["-r", s.recipient, "-r", recipient]] {
            let mixed = try s.cli.run(["age", "encrypt"] + arguments + ["-o", s.cli.path("mixed.age"), plain])
            #expect(mixed.status == Exit.usage && mixed.stderr.contains("can't mix post-quantum and classic recipients"), "\(mixed.stderr)")
            #expect(!FileManager.default.fileExists(atPath: s.cli.path("mixed.age")))
        }
        // Two PQ recipients: either key opens it.
        let otherRecipient = try s.cli.ok(["age", "keygen", "-y", other]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let both = s.cli.path("both.age")
        try s.cli.ok(["age", "encrypt", "-r", recipient, "-r", otherRecipient, "-o", both, plain])
        #expect(try s.cli.ok(["age", "decrypt", "-i", other, both]).stdout == plaintext)

        // A cut or altered recipient is a usage error naming the problem.
        var flippedRecipient = Array(recipient)
        flippedRecipient[900] = flippedRecipient[900] == "q" ? "p" : "q"
        for bad in [String(recipient.dropLast(7)), String(recipient.prefix(100)), String(flippedRecipient)] {
            let refused = try s.cli.run(["age", "encrypt", "-r", bad, plain])
            #expect(refused.status == Exit.usage && !refused.stderr.isEmpty, "\(refused.stderr)")
        }

        // Killed at any moment, keygen --pq -o leaves no key file or a whole one (0600), and nothing else.
        let span = try s.cli.duration(of: ["age", "keygen", "--pq", "-o", s.cli.path("span-key.txt")])
        var landed = 0
        for round in 0..<8 {
            let folder = s.cli.path("killed-\(round)")
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
            if try s.cli.kill(["age", "keygen", "--pq", "-o", folder + "/key.txt"], within: span) { landed += 1 }
            let left = try FileManager.default.contentsOfDirectory(atPath: folder)
            #expect(left.isEmpty || left == ["key.txt"], "round \(round): \(left)")
            if left == ["key.txt"] {
                #expect(stat(folder + "/key.txt", &st) == 0 && st.st_mode & 0o777 == 0o600, "round \(round)")
                #expect(try s.cli.ok(["age", "keygen", "-y", folder + "/key.txt"]).text.hasPrefix("age1pq1"), "round \(round)")
            }
        }
        #expect(landed > 0, "no kill landed while age keygen --pq was running")
        // A flipped byte in the stanza, or a cut file, never releases plaintext.
        var bytes = try s.read(encrypted)
        let stanzaByte = try #require(bytes.range(of: Data("mlkem768x25519 ".utf8))).upperBound + 40
        bytes[stanzaByte] = bytes[stanzaByte] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try s.cli.write("flipped.age", bytes)
        let flipped = try s.cli.run(["age", "decrypt", "-i", key, s.cli.path("flipped.age")])
        #expect([Exit.authentication, Exit.integrity].contains(flipped.status) && flipped.stdout.isEmpty, "\(flipped.status) \(flipped.stderr)")
        try s.cli.write("cut.age", try s.read(encrypted).prefix(1500))
        let cut = try s.cli.run(["age", "decrypt", "-i", key, s.cli.path("cut.age")])
        #expect(cut.status == Exit.integrity && cut.stdout.isEmpty, "\(cut.status) \(cut.stderr)")
    }

    @Test("-R - and -i - read recipients and identities from standard input, as age does; with the input on standard input too, exit 2")
    func keysOnStandardInput() throws {
        let s = try Setup()
        let plaintext = pattern(70_000, seed: 9)
        let plain = try s.cli.write("plain", plaintext)
        let encrypted = s.cli.path("file.age")
        try s.cli.ok(["age", "encrypt", "-R", "-", "-o", encrypted, plain], stdin: Data("# a recipients file\n\(s.recipient)\n".utf8))
        let opened = try s.cli.execute(AgeCommandTests.age, ["-d", "-i", s.keyFile, encrypted])
        #expect(opened.status == 0 && opened.stdout == plaintext, "\(opened.stderr)")
        let key = try s.read(s.keyFile)
        #expect(try s.cli.ok(["age", "decrypt", "-i", "-", encrypted], stdin: key).stdout == plaintext)
        let twice = try s.cli.run(["age", "decrypt", "-i", "-"], stdin: key)
        #expect(twice.status == Exit.usage && twice.stderr.contains("standard input can be read once"), "\(twice.stderr)")
        #expect(try s.cli.run(["age", "encrypt", "-R", "-", "-R", "-", plain], stdin: key).status == Exit.usage)
        // A bad key on standard input is named as such.
        let bad = try s.cli.run(["age", "decrypt", "-i", "-", encrypted], stdin: Data("AGE-SECRET-KEY-1NOPE\n".utf8))
        #expect(bad.status == Exit.usage && bad.stderr.contains("standard input"), "\(bad.stderr)")
    }

    @Test("without -p, a passphrase-encrypted file (the stock age's) asks for its passphrase, as age -d does, never for the Coffer identity's; with -i it is refused (2)")
    func passphraseDetected() throws {
        let s = try Setup()
        let plaintext = pattern(70_000, seed: 8)
        let plain = try s.cli.write("plain", plaintext)
        let encrypted = s.cli.path("file.age")
        let made = try s.ageOnTerminal(["-p", "-o", encrypted, plain], passphrase: "correct horse", prompts: 2)
        #expect(made.status == 0, "\(made.text) \(made.stderr)")
        try s.cli.write("pass", Data("correct horse\n".utf8))
        #expect(try s.cli.ok(["age", "decrypt", "--passphrase-file", s.cli.path("pass"), encrypted]).stdout == plaintext)
        #expect(try s.cli.run(["age", "decrypt", encrypted], environment: ["COFFER_PASSPHRASE": "correct horse"]).stdout == plaintext)
        let wrong = try s.cli.run(["age", "decrypt", encrypted], environment: ["COFFER_PASSPHRASE": "wrong horse"])
        #expect(wrong.status == Exit.authentication && wrong.stdout.isEmpty, "\(wrong.stderr)")
        // No passphrase and no terminal: a usage error naming the ways to give one, not a prompt.
        let none = try s.cli.run(["age", "decrypt", encrypted])
        #expect(none.status == Exit.usage && none.stderr.contains("--passphrase-file"), "\(none.stderr)")
        let withKey = try s.cli.run(["age", "decrypt", "-i", s.keyFile, encrypted])
        #expect(withKey.status == Exit.usage && withKey.stderr.contains("passphrase-encrypted"), "\(withKey.stderr)")
        // A file to a recipient still opens with the Coffer identity, asking for nothing.
        let toMe = s.cli.path("to-me.age")
        try s.cli.ok(["age", "encrypt", "-r", s.cofferIdentity, "-o", toMe, plain])
        #expect(try s.cli.ok(["age", "decrypt", toMe]).stdout == plaintext)
    }

    @Test("coffer age encrypt -p, age -d opens it on a terminal")
    func cofferPassphraseToAge() throws {
        let s = try Setup()
        let plaintext = pattern(131072, seed: 4)
        let encrypted = s.cli.path("file.age")
        let made = try s.cli.run(["age", "encrypt", "-p", "-a", "-o", encrypted], stdin: plaintext, environment: ["COFFER_PASSPHRASE": "battery staple"])
        #expect(made.status == Exit.ok, "\(made.stderr)")
        let out = s.cli.path("out")
        let opened = try s.ageOnTerminal(["-d", "-o", out, encrypted], passphrase: "battery staple", prompts: 1)
        #expect(opened.status == 0, "\(opened.text) \(opened.stderr)")
        #expect(try s.read(out) == plaintext)
    }

    @Test("a flipped or cut byte exits 5 and leaves no output file; standard output gets only authenticated chunks")
    func tampering() throws {
        let s = try Setup()
        let plaintext = pattern(131072, seed: 5)
        let encrypted = s.cli.path("file.age")
        try s.cli.ok(["age", "encrypt", "-r", s.recipient, "-o", encrypted], stdin: plaintext)
        let file = try s.read(encrypted)
        let macLine = try #require(file.range(of: Data("\n--- ".utf8))).upperBound
        var cases: [(String, Data)] = [("truncated", file.dropLast(100)), ("cut in the header", file.prefix(macLine))]
        for (label, offset) in [("payload", file.count - 5), ("first chunk", file.count - 70_000), ("header MAC", macLine + 3)] {
            var damaged = file
            damaged[offset] ^= 0x04
            cases.append((label, damaged))
        }
        for (label, bytes) in cases {
            let input = try s.cli.write("damaged.age", bytes)
            let result = try s.cli.run(["age", "decrypt", "-i", s.keyFile, "-o", s.cli.path("out"), input])
            #expect(result.status == Exit.integrity, "\(label): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: s.cli.path("out")), "\(label)")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: s.cli.root).filter { $0.hasPrefix(".coffer-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        // The last chunk changed: standard output received exactly the first, authenticated one.
        var lastChunk = file
        lastChunk[file.count - 5] ^= 0x04
        let streamed = try s.cli.run(["age", "decrypt", "-i", s.keyFile], stdin: lastChunk)
        #expect(streamed.status == Exit.integrity)
        #expect(streamed.stdout == plaintext.prefix(65536))
        // Armored, a changed base64 character is caught the same way.
        try s.cli.ok(["age", "encrypt", "-a", "-r", s.recipient, "-o", s.cli.path("armored.age")], stdin: plaintext)
        var armored = try s.read(s.cli.path("armored.age"))
        let index = armored.count - 200
        armored[index] = armored[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let result = try s.cli.run(["age", "decrypt", "-i", s.keyFile, "-o", s.cli.path("out")], stdin: armored)
        #expect(result.status == Exit.integrity, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.cli.path("out")))
    }

    @Test("wrong keys exit 3, bad usage 2, existing outputs 7, missing inputs 6")
    func exitCodes() throws {
        let s = try Setup()
        let encrypted = s.cli.path("file.age")
        try s.cli.ok(["age", "encrypt", "-r", s.recipient, "-o", encrypted], stdin: Data("secret\n".utf8))
        // Not for this key: the Coffer identity, another age key.
        let wrong = try s.cli.run(["age", "decrypt", "-o", s.cli.path("out"), encrypted])
        #expect(wrong.status == Exit.authentication, "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.cli.path("out")))
        // Usage.
        for arguments in [
            ["age", "encrypt"],
            ["age", "encrypt", "-p", "-r", s.recipient],
            ["age", "encrypt", "-r", "age1notarecipient"],
            ["age", "encrypt", "-r", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"],
            ["age", "decrypt", "-p", "-i", s.keyFile, encrypted],
            ["age", "decrypt", "-i", s.cli.path("recipients.txt"), encrypted],
        ] {
            try s.cli.write("recipients.txt", Data("# x\n".utf8))
            let result = try s.cli.run(arguments, stdin: Data("x".utf8))
            #expect(result.status == Exit.usage, "\(arguments): \(result.stderr)")
        }
        try s.cli.write("bad-recipients.txt", Data("\(s.recipient)\nAGE-SECRET-KEY-1NOTARECIPIENT\n".utf8))
        let badFile = try s.cli.run(["age", "encrypt", "-R", s.cli.path("bad-recipients.txt")], stdin: Data("x".utf8))
        #expect(badFile.status == Exit.usage)
        #expect(badFile.stderr.contains("line 2") && !badFile.stderr.contains("NOTARECIPIENT"), "\(badFile.stderr)")
        // -p without any passphrase source does not prompt: it fails.
        let noPassphrase = try s.cli.run(["age", "encrypt", "-p", "-o", s.cli.path("p.age")], stdin: Data("x".utf8))
        #expect(noPassphrase.status == Exit.usage)
        #expect(noPassphrase.stderr.contains("--passphrase-file"), "\(noPassphrase.stderr)")
        // Not an age file at all.
        #expect(try s.cli.run(["age", "decrypt", "-i", s.keyFile], stdin: Data("hello\n".utf8)).status == Exit.integrity)
        // An existing output is replaced, as age replaces it, but only by a
        // complete result: a failure leaves it as it was.
        try s.cli.write("out", Data("precious".utf8))
        #expect(try s.cli.execute("/usr/bin/age-keygen", ["-o", s.cli.path("other.key")]).status == 0)
        let failed = try s.cli.run(["age", "decrypt", "-i", s.cli.path("other.key"), "-o", s.cli.path("out"), encrypted])
        #expect(failed.status == Exit.authentication, "\(failed.stderr)")
        #expect(try s.read(s.cli.path("out")) == Data("precious".utf8))
        try s.cli.ok(["age", "decrypt", "-i", s.keyFile, "-o", s.cli.path("out"), encrypted])
        #expect(try s.read(s.cli.path("out")) == Data("secret\n".utf8))
        try s.cli.ok(["age", "decrypt", "-i", s.keyFile, "-o", s.cli.path("out"), "--force", encrypted])  // still accepted
        // In place (-o FILE FILE): the original is read to its end, then replaced.
        try s.cli.write("inplace", Data("in place\n".utf8))
        try s.cli.ok(["age", "encrypt", "-r", s.recipient, "-o", s.cli.path("inplace"), s.cli.path("inplace")])
        #expect(try s.cli.ok(["age", "decrypt", "-i", s.keyFile, s.cli.path("inplace")]).stdout == Data("in place\n".utf8))
        // Missing files.
        #expect(try s.cli.run(["age", "decrypt", "-i", s.keyFile, s.cli.path("missing.age")]).status == Exit.notFound)
        #expect(try s.cli.run(["age", "decrypt", "-i", s.cli.path("missing.txt"), encrypted]).status == Exit.notFound)
        #expect(try s.cli.run(["age", "decrypt", encrypted], environment: ["COFFER_IDENTITY": s.cli.path("none")]).status == Exit.notFound)
    }
}
