// Two message tables; the language comes from the user's setting, else the phone's.
const MESSAGES = {
  en: {
    app_name: "FieldProof", sign_in: "Sign in", username: "Username", password: "Password",
    signin_failed: "Wrong username or password.", signin_offline: "Signing in needs a network.",
    signin_limited: "Too many failed sign-ins. Try again later.",
    session_ended: "Your session ended. Sign in again: everything saved on the phone is kept and will be sent.",
    other_collector: "This phone holds unsent work of {name}. They must sync it (or sign out) first.",
    today: "Today", sync: "Sync", settings: "Settings", no_visits: "No visits today.",
    synced_ago: "Visit list synced {age} ago.", never_synced: "Visit list not synced yet.",
    offline: "Offline", online: "Online",
    window: "Window", local_time: "local time", distance: "Distance", open_maps: "Open in maps",
    state_scheduled: "To visit", state_checked_in: "Checked in", state_completed: "Done", state_cancelled: "Cancelled",
    state_pending: "Waiting to send",
    check_in: "Check in", photo: "Photo", audio: "Audio", note: "Note", check_out: "Check out",
    new_fix: "New GPS fix", send_check_in: "Send check-in", locating: "Finding your position…",
    accuracy: "Accuracy", position: "Position", fix_time: "Fix taken",
    inside_geofence: "Inside the geofence ({radius} m)", outside_geofence: "Outside the geofence ({radius} m)",
    no_fix: "No GPS fix: {reason}", queued: "Saved on the phone. It will be sent when there is a network.",
    take_photo: "Take photo", record: "Record", stop: "Stop", note_text: "Note",
    consent_subject: "Did the subject consent?", consent_granted: "Granted", consent_refused: "Refused",
    consent_not_asked: "Not asked", third_parties: "Third parties present?", yes: "Yes", no: "No",
    save: "Save", consent_needed: "Answer both consent questions first.",
    capture_facts: "SHA-256 {sha} · {size} · signed on this phone",
    outcome: "Outcome", summary: "Summary", promise: "Promise to pay", amount: "Amount", due_date: "Due date",
    promise_needed: "A promise needs an amount and a date.",
    outcome_met_debtor: "Met the debtor", outcome_not_home: "Not at home", outcome_refused: "Refused to talk",
    outcome_third_party_only: "Only third parties", outcome_promise_to_pay: "Promise to pay",
    outcome_payment_received: "Payment received", outcome_address_invalid: "Address invalid",
    sync_now: "Sync now", waiting: "Waiting", sending: "Sending", sealed: "Sealed", refused: "Refused",
    confirmed: "In the ledger", mismatch: "HASH MISMATCH", check_failed: "RECEIPT CHECK FAILED",
    kind_checkin: "Check-in", kind_photo: "Photo", kind_audio: "Audio", kind_note: "Note", kind_checkout: "Check-out",
    receipt: "Receipt {id} · server SHA-256 {sha} · signature {sig} · ledger #{index}",
    receipt_ok: "Phone checked: in the ledger (tree of {size}, checkpoint signed).",
    receipt_bad: "Phone check FAILED: {why}",
    sha_mismatch: "The server's SHA-256 differs from the phone's: {server} ≠ {phone}",
    sig_signed: "verified", sig_unsigned: "unsigned",
    sync_idle: "Everything is sent.", sync_running: "Sending…", sync_retry: "No network. Next try in {s} s.",
    sync_stopped: "Stopped: {why}",
    language: "Language", language_auto: "Phone's language", sign_out: "Sign out",
    signout_pending: "{n} items are not in the ledger yet. Signing out deletes them from this phone. Tap again to sign out anyway.",
    signed_in_as: "Signed in as {name}", device: "Device key {id}",
    refused_title: "Refused by the server", rule: "Rule",
    "rule_hours.local": "Outside lawful hours at the address", "rule_hours.nightly": "Night-time visits are not allowed",
    "rule_contact.cease": "The debtor asked to stop contact", "rule_contact.represented": "The debtor has an attorney",
    "rule_contact.third_party": "Third parties may not be contacted", "rule_place.workplace": "No visits at this workplace",
    "rule_frequency.visits": "Too many visits", "rule_recording.consent": "Recording needs every party's consent",
    "rule_time.clock_skew": "The phone's clock is wrong", "rule_time.order": "Out of order in time",
    "rule_promise.due_date": "The promise's date is not allowed",
    size_kb: "{n} KB", size_mb: "{n} MB", minutes: "{n} min", hours: "{n} h", seconds: "{n} s", days: "{n} d",
  },
  "zh-CN": {
    app_name: "FieldProof 外访", sign_in: "登录", username: "用户名", password: "密码",
    signin_failed: "用户名或密码错误。", signin_offline: "登录需要网络。",
    signin_limited: "登录失败次数过多，请稍后再试。",
    session_ended: "登录已过期，请重新登录：手机上保存的内容都会保留并发送。",
    other_collector: "本机还有 {name} 未发送的内容，需先由其同步（或退出登录）。",
    today: "今日", sync: "同步", settings: "设置", no_visits: "今日没有外访。",
    synced_ago: "外访列表 {age} 前同步。", never_synced: "外访列表尚未同步。",
    offline: "离线", online: "在线",
    window: "时段", local_time: "当地时间", distance: "距离", open_maps: "在地图中打开",
    state_scheduled: "待外访", state_checked_in: "已签到", state_completed: "已完成", state_cancelled: "已取消",
    state_pending: "等待发送",
    check_in: "签到", photo: "拍照", audio: "录音", note: "记录", check_out: "签退",
    new_fix: "重新定位", send_check_in: "发送签到", locating: "正在定位…",
    accuracy: "精度", position: "位置", fix_time: "定位时间",
    inside_geofence: "在地理围栏内（{radius} 米）", outside_geofence: "在地理围栏外（{radius} 米）",
    no_fix: "无法定位：{reason}", queued: "已保存在手机上，有网络时自动发送。",
    take_photo: "拍照", record: "开始录音", stop: "停止", note_text: "记录",
    consent_subject: "当事人是否同意？", consent_granted: "同意", consent_refused: "拒绝",
    consent_not_asked: "未询问", third_parties: "是否有第三方在场？", yes: "是", no: "否",
    save: "保存", consent_needed: "请先回答两个同意问题。",
    capture_facts: "SHA-256 {sha} · {size} · 已在本机签名",
    outcome: "结果", summary: "摘要", promise: "还款承诺", amount: "金额", due_date: "还款日期",
    promise_needed: "还款承诺需要金额和日期。",
    outcome_met_debtor: "见到债务人", outcome_not_home: "不在家", outcome_refused: "拒绝沟通",
    outcome_third_party_only: "仅见到第三方", outcome_promise_to_pay: "承诺还款",
    outcome_payment_received: "已收到还款", outcome_address_invalid: "地址无效",
    sync_now: "立即同步", waiting: "等待", sending: "发送中", sealed: "已封存", refused: "被拒绝",
    confirmed: "已入账本", mismatch: "哈希不一致", check_failed: "回执核验失败",
    kind_checkin: "签到", kind_photo: "照片", kind_audio: "录音", kind_note: "记录", kind_checkout: "签退",
    receipt: "回执 {id} · 服务器 SHA-256 {sha} · 签名 {sig} · 账本 #{index}",
    receipt_ok: "本机已核验：已记入账本（树大小 {size}，检查点签名有效）。",
    receipt_bad: "本机核验失败：{why}",
    sha_mismatch: "服务器的 SHA-256 与本机不一致：{server} ≠ {phone}",
    sig_signed: "已验证", sig_unsigned: "未签名",
    sync_idle: "全部已发送。", sync_running: "发送中…", sync_retry: "无网络，{s} 秒后重试。",
    sync_stopped: "已停止：{why}",
    language: "语言", language_auto: "跟随手机", sign_out: "退出登录",
    signout_pending: "还有 {n} 项未记入账本，退出将从本机删除。再次点击确认退出。",
    signed_in_as: "当前用户 {name}", device: "设备密钥 {id}",
    refused_title: "服务器拒绝", rule: "规则",
    "rule_hours.local": "不在该地址的法定外访时段内", "rule_hours.nightly": "不得夜间外访",
    "rule_contact.cease": "债务人已要求停止联系", "rule_contact.represented": "债务人已委托律师",
    "rule_contact.third_party": "不得联系第三方", "rule_place.workplace": "不得到该工作单位外访",
    "rule_frequency.visits": "外访过于频繁", "rule_recording.consent": "录音需要各方同意",
    "rule_time.clock_skew": "手机时间不准确", "rule_time.order": "时间顺序有误",
    "rule_promise.due_date": "承诺还款日期不被允许",
    size_kb: "{n} KB", size_mb: "{n} MB", minutes: "{n} 分钟", hours: "{n} 小时", seconds: "{n} 秒", days: "{n} 天",
  },
};

let language = "en";

export function pick(setting, phone = navigator.languages || [navigator.language]) {
  if (setting && setting !== "auto" && MESSAGES[setting]) return setting;
  for (const tag of phone) if (/^zh\b/i.test(tag || "")) return "zh-CN"; else if (/^en\b/i.test(tag || "")) return "en";
  return "en";
}

export function setLanguage(setting) {
  language = pick(setting);
  document.documentElement.lang = language;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  return language;
}

export function current() {
  return language;
}

export function t(key, values = {}) {
  const text = MESSAGES[language][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (values[name] ?? ""));
}

export function has(key) {
  return key in MESSAGES[language];
}
