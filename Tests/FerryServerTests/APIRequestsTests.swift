import FerryCore
import Testing

@testable import FerryServer

/// The API's request bodies, read into typed values with the document's rules: what is wrong is a 400 that names
/// the field.
@Suite struct APIRequestsTests {
    static func problem(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let problem as Problem {
            return problem.status == .badRequest ? problem.detail : "status \(problem.status.code)"
        } catch {
            return "\(error)"
        }
    }

    @Test func aNewTaskIsReadWithItsDefaultsAndItsBounds() throws {
        let task = try NewTaskRequest(["project": "shop", "task": "fix it", "max_cost": .number(0.5), "priority": -3])
        #expect(task.project == "shop" && task.task == "fix it" && task.maxCost == 0.5)
        #expect(task.maxAttempts == 3 && task.priority == -3 && task.base == nil)
        #expect(
            Self.problem { _ = try NewTaskRequest(["project": "shop", "task": "  "]) }?.contains("non-empty") == true)
        #expect(
            Self.problem { _ = try NewTaskRequest(["project": "shop", "task": "t", "max_cost": 0]) }
                == "\"max_cost\" must be a positive number of USD, at most 1,000,000")
        #expect(
            Self.problem { _ = try NewTaskRequest(["project": "shop", "task": "t", "max_attempts": 21]) }
                == "\"max_attempts\" must be a whole number from 1 to 20")
        #expect(
            Self.problem { _ = try NewTaskRequest(["project": "shop", "task": "t", "priority": .number(1.5)]) }
                == "\"priority\" must be a whole number from -1000 to 1000")
        #expect(Self.problem { _ = try NewTaskRequest(["project": 7, "task": "t"]) } == "\"project\" must be a string")
        #expect(Self.problem { _ = try NewTaskRequest(["project": "shop", "task": "t", "base": "--force"]) } != nil)
        // A model is a profile, or a cascade of 2 to 4 different ones.
        #expect(
            try NewTaskRequest(["project": "shop", "task": "t", "model": "local>anthropic"]).model == "local>anthropic")
        for bad in ["local>", ">x", "a>a", "a>b>c>d>e", ""] as [String] {
            #expect(
                Self.problem { _ = try NewTaskRequest(["project": "shop", "task": "t", "model": .string(bad)]) }?
                    .contains("cascade") == true, "\(bad)")
        }
    }

    @Test func aNewProjectIsReadWithItsTypes() throws {
        let project = try NewProjectRequest(["name": "shop", "repo": "https://example.com/s.git", "push": true])
        #expect(project.name == "shop" && project.push && project.webhookURL == nil && project.base == nil)
        #expect(Self.problem { _ = try NewProjectRequest(["name": "shop"]) }?.contains("\"repo\"") == true)
        #expect(
            Self.problem { _ = try NewProjectRequest(["name": "shop", "repo": "r", "push": "yes"]) }
                == "\"push\" must be true or false")
        #expect(
            Self.problem { _ = try NewProjectRequest(["name": "shop", "repo": "r", "test_command": ["make"]]) }
                == "\"test_command\" must be a string")
    }

    @Test func aBudgetIsAnAmountOrNullAndAKeyIsARole() throws {
        #expect(try BudgetRequest(["monthly_usd": 25]).monthlyUSD == 25)
        #expect(try BudgetRequest(["monthly_usd": .null]).monthlyUSD == nil, "null removes the budget")
        for body: JSONValue in [[:], ["monthly_usd": -1], ["monthly_usd": "25"], ["monthly_usd": .number(2e9)]] {
            #expect(
                Self.problem { _ = try BudgetRequest(body) }
                    == "\"monthly_usd\" must be a number of USD from 0 to 1,000,000,000 (null removes the budget)")
        }
        #expect(try NewKeyRequest(["role": "viewer"]).role == .viewer)
        #expect(
            Self.problem { _ = try NewKeyRequest(["role": "owner"]) } == "\"role\" must be one of admin, member, viewer"
        )
    }
}
