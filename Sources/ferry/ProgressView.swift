import FerryCore
import FerryLocal
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Progress on stderr: a bar (bytes, rate, ETA) or a spinner on a terminal; plain lines otherwise.
final class ProgressView: Sendable {
    let isTTY = isatty(STDERR_FILENO) == 1
    private let state = Mutex(State())

    struct State {
        var phase = ""
        var phaseStart = ContinuousClock.now
        var lastDraw = ContinuousClock.now - .seconds(10)
        var lastPercent = -100
        var spinner = 0
    }

    func update(_ progress: TransferProgress) {
        state.withLock { state in
            let now = ContinuousClock.now
            if progress.phase != state.phase {
                if state.phase != "", isTTY { write("\n") }
                state.phase = progress.phase
                state.phaseStart = now
                state.lastPercent = -100
            }
            let fraction = progress.total > 0 ? Double(progress.done) / Double(progress.total) : 0
            let percent = Int(fraction * 100)
            let finished = progress.done >= progress.total
            if isTTY {
                guard now - state.lastDraw > .milliseconds(100) || finished else { return }
                state.lastDraw = now
                let width = 28
                let filled = Int(fraction * Double(width))
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
                write("\r\(progress.phase) \(bar) \(percent)%  \(detail(progress, since: state.phaseStart))\u{1B}[K")
            } else if percent / 10 != state.lastPercent / 10 || finished && state.lastPercent != 100 {
                state.lastPercent = percent
                write("\(progress.phase): \(percent)%  \(detail(progress, since: state.phaseStart))\n")
            }
        }
    }

    func spin(_ text: String) {
        state.withLock { state in
            let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
            state.spinner += 1
            if isTTY { write("\r\(frames[state.spinner % frames.count]) \(text)\u{1B}[K") }
        }
    }

    func line(_ text: String) {
        state.withLock { state in
            if isTTY, state.phase != "" || state.spinner > 0 { write("\r\u{1B}[K") }
            state.phase = ""
            state.spinner = 0
            write(text + "\n")
        }
    }

    /// How far the model has read the prompt: one redrawn line on a terminal, a line per update otherwise.
    func prompt(processed: Int, total: Int) {
        let text = "model: read \(processed)/\(total) prompt tokens"
        state.withLock { state in
            state.spinner += 1
            write(isTTY ? "\r\(text)\u{1B}[K" : text + "\n")
        }
    }

    /// Clears a redrawn line (before the answer's first token).
    func clear() {
        state.withLock { state in
            if isTTY, state.phase != "" || state.spinner > 0 { write("\r\u{1B}[K") }
            state.phase = ""
            state.spinner = 0
        }
    }

    func status(_ status: LocalServer.Status) {
        switch status {
        case .reusing(let url): line("local model: reusing the healthy server at \(url)")
        case .starting(let port): line("local model: starting llama.cpp's server on 127.0.0.1:\(port)")
        case .loading(let seconds): spin(String(format: "loading the model… %.0fs", seconds))
        case .ready(let seconds): line(String(format: "local model: ready in %.1fs", seconds))
        case .stopping: break
        }
    }

    private func detail(_ progress: TransferProgress, since start: ContinuousClock.Instant) -> String {
        guard progress.total > 1000 else { return "" }
        let seconds = (ContinuousClock.now - start).inSeconds
        let rate = seconds > 0 ? Double(progress.done) / seconds : 0
        let remaining = rate > 0 ? Double(progress.total - progress.done) / rate : 0
        return String(
            format: "%@/%@  %@/s  ETA %@", Self.bytes(progress.done) as NSString,
            Self.bytes(progress.total) as NSString,
            Self.bytes(Int64(rate)) as NSString, Self.clock(remaining) as NSString)
    }

    static func bytes(_ count: Int64) -> String {
        let value = Double(count)
        if value >= 1_073_741_824 { return String(format: "%.2f GB", value / 1_073_741_824) }
        if value >= 1_048_576 { return String(format: "%.0f MB", value / 1_048_576) }
        return String(format: "%.0f KB", value / 1024)
    }

    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return String(format: "%d:%02d", total / 60, total % 60)
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
