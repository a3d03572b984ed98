"""Domain words the console shows from data (statuses, kinds, outcomes), listed so that
`pybabel extract` finds them; templates translate them with `_(value)`."""
from flask_babel import lazy_gettext as N_

WORDS = [
    # roles
    N_("admin"), N_("supervisor"), N_("collector"), N_("legal"), N_("auditor"),
    # case statuses and flags
    N_("open"), N_("promise"), N_("legal"), N_("closed"), N_("written_off"),
    N_("cease_contact"), N_("attorney_represented"), N_("workplace_contact_prohibited"),
    N_("home"), N_("workplace"),
    # visits
    N_("scheduled"), N_("checked_in"), N_("completed"), N_("cancelled"),
    N_("met_debtor"), N_("not_home"), N_("refused"), N_("third_party_only"), N_("promise_to_pay"),
    N_("payment_received"), N_("address_invalid"),
    # evidence
    N_("photo"), N_("audio"), N_("document"), N_("note"), N_("sealed"), N_("pending_upload"), N_("rejected"),
    N_("granted"), N_("not_asked"), N_("signed"), N_("unsigned"),
    # custody events
    N_("created"), N_("viewed"), N_("downloaded"), N_("derived"), N_("packeted"), N_("exported"),
    N_("legal_hold_set"), N_("legal_hold_released"), N_("verified"), N_("packet_built"), N_("key_rotated"),
    # timeline
    N_("case_opened"), N_("case_updated"), N_("visit_scheduled"), N_("visit_checked_in"), N_("visit_checked_out"),
    N_("promise_made"), N_("promise_broken"), N_("promise_kept"), N_("evidence_sealed"), N_("packet_requested"),
    N_("packet_failed"), N_("evidence_legal_hold_set"), N_("evidence_legal_hold_released"),
    # contacts and the case plan
    N_("call"), N_("sms"), N_("email"), N_("letter"), N_("outbound"), N_("inbound"), N_("no_answer"),
    N_("voicemail"), N_("wrong_party"), N_("spoke_debtor"), N_("spoke_third_party"), N_("sent"), N_("delivered"),
    N_("returned"), N_("post"), N_("hand"), N_("notice"), N_("visit"), N_("legal_referral"), N_("done"),
    N_("skipped"), N_("contact_recorded"), N_("plan_edited"),
    # jobs
    N_("queued"), N_("building"), N_("ready"), N_("failed"), N_("running"), N_("passed"), N_("error"),
    N_("all"), N_("case"), N_("evidence"),
    # placements: modes and row results
    N_("validate"), N_("all_or_nothing"), N_("valid_rows"), N_("accepted"), N_("updated"), N_("unchanged"),
    N_("recalled"),
]
