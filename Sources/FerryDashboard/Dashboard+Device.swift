import FerryCore
import FerryServer
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird

/// `/device`: where a signed-in person allows (or refuses) a `ferry login` that shows them a code.
extension Dashboard {
    func addDeviceRoutes(to router: Router<ServerContext>) {
        router.get("/device") { request, _ in try await handle { try await devicePage(request) } }
        router.post("/device") { request, context in
            try await handle { try await decideDevice(request, remote: context.remote) }
        }
    }

    func devicePage(_ request: Request) async throws -> Response {
        let viewer = try await signedIn(request)
        let code = DeviceGrantRules.normalised(request.uri.queryParameters.get("code").map { String($0) } ?? "")
        let grant = code.count == 9 ? try await store.deviceGrant(userCode: code) : nil
        return html(
            "device", ["title": "Sign in a device", "code": code, "client": grant?.client as Any], viewer: viewer)
    }

    func decideDevice(_ request: Request, remote: String?) async throws -> Response {
        let viewer = try await signedIn(request)
        let fields = try await Self.formFields(request)
        guard let token = fields["csrf"], Self.constantTimeEqual(token, viewer.csrf) else {
            throw page(
                .forbidden, "The form has expired or did not come from this site. Reload the page and try again.")
        }
        let code = DeviceGrantRules.normalised(fields["code"] ?? "")
        let approve = fields["decision"] == "approve"
        guard
            let grant = try await store.decideDeviceGrant(
                userCode: code, approve: approve, tenantID: viewer.principal.tenantID,
                personID: viewer.principal.personID ?? Person.builtInID(tenantID: viewer.principal.tenantID),
                now: Date())
        else {
            return html(
                "device",
                [
                    "title": "Sign in a device", "code": code,
                    "error": "No such code is waiting (it may have expired after 10 minutes, or been used).",
                ], viewer: viewer, status: .badRequest)
        }
        try await ServerAPI(store: store, runStore: runStore).record(
            viewer.principal, approve ? "device.approve" : "device.deny", code, grant.client, remote,
            surface: .dashboard)
        let done =
            approve
            ? "Allowed. \(grant.client) is signed in as you; you can close this page."
            : "Refused. Nothing was signed in."
        return html("device", ["title": "Sign in a device", "done": done], viewer: viewer)
    }
}
