import FerryCore
import Testing

@Suite struct RedactorTests {
    @Test func secretNamedVariablesAreFoundAndOthersAreNot() {
        let environment = [
            "OPENAI_API_KEY": "value-of-openai-key", "GITHUB_TOKEN": "value-of-github-token",
            "DB_PASSWORD": "value-of-db-pw",
            "AWS_SECRET_ACCESS_KEY": "value-of-aws-secret",
            // Whole words only: an author's address or a keyboard layout is not a secret.
            "GIT_AUTHOR_EMAIL": "ferry@localhost", "KEYBOARD_LAYOUT": "us-international",
            "SSH_AUTH_SOCK": "/tmp/agent.sock",
        ]
        let found = Set(Redactor.secrets(in: environment, extra: ["the-run-s-own-key"]))
        #expect(
            found == [
                "value-of-openai-key", "value-of-github-token", "value-of-db-pw", "value-of-aws-secret",
                "the-run-s-own-key",
            ])
    }

    @Test func longerSecretsAreReplacedWholeAndShortOnesIgnored() {
        let redactor = Redactor(secrets: ["abcdefgh", "abcdefgh-longer", "short"])
        #expect(redactor("x abcdefgh-longer y abcdefgh short") == "x [REDACTED] y [REDACTED] short")
        #expect(redactor(["k": ["v": "abcdefgh"]]) == ["k": ["v": "[REDACTED]"]])
    }
}
