// The interface strings in English and Persian, and dates in the Gregorian or (Persian) Jalali calendar.
// The page's language comes from <html lang> (chosen by the server: ?lang=, the cc_lang cookie, the browser).

const CATALOG = {
  en: {
    "app.name": "Contact center",
    "nav.console": "Console", "nav.wallboard": "Wallboard", "nav.reports": "Reports", "nav.help": "Help",
    "nav.language": "فارسی", "nav.signout": "Sign out", "nav.shortcuts": "Shortcuts",
    "login.title": "Sign in", "login.email": "E-mail", "login.password": "Password", "login.submit": "Sign in",
    "login.failed": "Wrong e-mail or password.", "login.role": "This page needs the {role} role.",
    "presence.available": "Available", "presence.busy": "Busy", "presence.away": "Away",
    "presence.offline": "Offline", "presence.label": "Presence",
    "view.mine": "My queue", "view.team": "Unassigned", "view.open": "All open", "view.mentions": "Mentions",
    "view.search": "Search results",
    "search.placeholder": "Search tickets and customers  ( / )", "search.tickets": "Tickets",
    "search.contacts": "Customers", "search.none": "Nothing found.",
    "list.empty": "No tickets here.", "list.more": "Load more",
    "col.number": "#", "col.subject": "Subject", "col.customer": "Customer", "col.channel": "Channel",
    "col.status": "Status", "col.priority": "Priority", "col.updated": "Last message", "col.assignee": "Assignee",
    "offers.title": "Offers", "offer.ticket": "Ticket #{id}", "offer.accept": "Accept", "offer.reject": "Reject",
    "offer.left": "{s} s left", "offer.expired": "expired", "offer.accepted": "Ticket #{id} is yours.",
    "ticket.back": "Back", "ticket.status": "Status", "ticket.priority": "Priority", "ticket.type": "Type",
    "ticket.tags": "Tags", "ticket.tags.hint": "comma-separated", "ticket.save": "Save",
    "ticket.assignee": "Assignee", "ticket.unassigned": "nobody", "ticket.transfer": "Transfer",
    "ticket.transfer.to": "Transfer to", "ticket.transfer.note": "Note for the next agent",
    "ticket.transfer.done": "Transferred.", "ticket.saved": "Saved.", "ticket.takeit": "Assign to me",
    "ticket.viewing": "Also here: {names}", "ticket.typing": "{name} is typing…",
    "ticket.channel": "Channel", "ticket.created": "Opened",
    "timeline.internal": "Internal note", "timeline.customer": "Customer", "timeline.agent": "Agent",
    "timeline.system": "System", "timeline.event": "{actor}: {action}",
    "compose.reply": "Reply", "compose.note": "Internal note",
    "compose.reply.placeholder": "Write to the customer (goes out on {channel}). Type / for canned responses.",
    "compose.note.placeholder": "Only staff see this. @name tells a colleague.",
    "compose.send": "Send  (Ctrl+Enter)", "compose.sendAs": "and set status", "compose.keep": "keep status",
    "compose.sent": "Sent.", "compose.noted": "Note added.", "compose.article": "Answering with article: {title}",
    "canned.title": "Canned responses", "canned.none": "No canned responses yet.", "canned.insert": "Insert",
    "canned.new": "New canned response", "canned.shortcut": "Shortcut", "canned.body": "Text",
    "canned.variables": "Variables: {vars}", "canned.shared": "For the whole team", "canned.save": "Save",
    "kb.title": "Suggested articles", "kb.none": "No article fits this ticket.", "kb.insert": "Insert article",
    "kb.score": "score {score}",
    "customer.title": "Customer", "customer.identities": "Identities", "customer.organization": "Organization",
    "customer.tier": "Tier", "customer.contracts": "Contracts", "customer.contract.active": "active",
    "customer.contract.inactive": "inactive", "customer.tickets": "Past tickets ({n})", "customer.none": "none",
    "mention.toast": "{name} mentioned you on #{id}", "mentions.none": "No mentions.",
    "live.offline": "Reconnecting…", "live.updated": "Updated",
    "error.generic": "Something went wrong: {message}",
    "shortcuts.title": "Keyboard shortcuts", "shortcuts.close": "Close",
    "sc.search": "Search", "sc.list": "My queue / unassigned / all open", "sc.move": "Next / previous ticket",
    "sc.open": "Open the ticket", "sc.reply": "Write a reply", "sc.note": "Write an internal note",
    "sc.send": "Send", "sc.accept": "Accept the first offer", "sc.reject": "Reject the first offer",
    "sc.back": "Back to the list", "sc.help": "This help",
    "status.new": "New", "status.open": "Open", "status.pending": "Pending", "status.on-hold": "On hold",
    "status.solved": "Solved", "status.closed": "Closed",
    "priority.low": "Low", "priority.normal": "Normal", "priority.high": "High", "priority.urgent": "Urgent",
    "type.question": "Question", "type.incident": "Incident", "type.problem": "Problem", "type.task": "Task",
    "type.complaint": "Complaint",
    "wall.title": "Wallboard", "wall.queues": "Waiting", "wall.queue": "Queue", "wall.skill": "Skill",
    "wall.waiting": "Waiting", "wall.longest": "Longest wait", "wall.agents": "Agents", "wall.agent": "Agent",
    "wall.presence": "State", "wall.load": "Load", "wall.wrapup": "Wrap-up until", "wall.atrisk": "At risk",
    "wall.breached": "Breached", "wall.metric": "Metric", "wall.due": "Due", "wall.ticket": "Ticket",
    "wall.none": "None.", "wall.generated": "Updated {time}", "wall.reassign": "Reassign",
    "wall.raise": "Raise priority", "wall.unavailable": "The wallboard is not available on this server yet.",
    "wall.breachedAgo": "breached {d} ago", "wall.dueIn": "in {d}",
    "metric.first_response": "First response", "metric.next_response": "Next response",
    "metric.resolution": "Resolution",
    "rep.title": "Reports", "rep.since": "From", "rep.until": "To", "rep.show": "Show", "rep.csv": "Download CSV",
    "rep.empty": "No data in this period.", "rep.summary": "Summary", "rep.unavailable":
      "Reports are not available on this server yet.",
    "rep.volume": "Volume", "rep.response-times": "Response times", "rep.sla": "SLA", "rep.complaints": "Complaints",
    "rep.satisfaction": "Satisfaction", "rep.deflection": "Self-service", "rep.agents": "Agents",
    "my.title": "My tickets", "my.signin": "Send me a sign-in link", "my.email": "Your e-mail address",
    "my.sent": "If we know this address, a sign-in link is on its way. It works once and for a short time.",
    "my.none": "You have no tickets yet.", "my.open": "Open", "my.signout": "Sign out",
    "my.contact": "Write to us", "my.chat": "Chat with us", "my.you": "You",
    "kba.title": "Knowledge base", "kba.articles": "Articles", "kba.new": "New article",
    "kba.phrasings": "Learned questions", "kba.all": "All", "kba.filter": "Filter by title, category or tag",
    "kba.none": "No articles match.", "kba.col.title": "Title", "kba.language": "Language", "kba.category": "Category",
    "kba.status": "Status", "kba.updated": "Updated", "kba.tags": "Tags (comma-separated)",
    "kba.related": "Related article ids", "kba.body": "Body (Markdown)", "kba.preview": "Preview",
    "kba.phrasings.edit": "Other ways customers ask this (one per line)",
    "kba.status.draft": "Draft", "kba.status.internal": "Internal", "kba.status.published": "Published",
    "kba.lang.en": "English", "kba.lang.fa": "Persian", "kba.save": "Save", "kba.publish": "Publish",
    "kba.view": "Open the help page", "kba.delete": "Delete", "kba.delete.confirm": "Delete \u201c{title}\u201d with its history?",
    "kba.deleted": "Deleted.", "kba.saved": "Saved as version {version}.", "kba.published": "Published.",
    "kba.version": "Version {version}", "kba.history": "History", "kba.current": "current", "kba.restore": "Restore",
    "kba.restored": "The content of version {from} restored as version {version}.",
    "kba.phrasings.hint": "Customers' questions that agents answered with an article. Approving one adds it to the article's phrasings, so search finds the article for it.",
    "kba.phrasings.none": "No questions waiting for review.", "kba.question": "Question", "kba.article": "Article",
    "kba.ticket": "Ticket", "kba.approve": "Approve", "kba.reject": "Reject", "kba.approved": "Added to the article.",
    "kba.rejected": "Rejected.", "nav.knowledge": "Knowledge base",
  },
  fa: {
    "app.name": "مرکز تماس",
    "nav.console": "کنسول", "nav.wallboard": "تابلوی زنده", "nav.reports": "گزارش‌ها", "nav.help": "راهنما",
    "nav.language": "English", "nav.signout": "خروج", "nav.shortcuts": "میان‌برها",
    "login.title": "ورود", "login.email": "ایمیل", "login.password": "گذرواژه", "login.submit": "ورود",
    "login.failed": "ایمیل یا گذرواژه درست نیست.", "login.role": "این صفحه نقش {role} لازم دارد.",
    "presence.available": "آماده", "presence.busy": "مشغول", "presence.away": "دور از میز",
    "presence.offline": "آفلاین", "presence.label": "وضعیت",
    "view.mine": "صف من", "view.team": "بدون مسئول", "view.open": "همه باز", "view.mentions": "اشاره‌ها",
    "view.search": "نتیجه جستجو",
    "search.placeholder": "جستجوی تیکت‌ها و مشتریان  ( / )", "search.tickets": "تیکت‌ها",
    "search.contacts": "مشتریان", "search.none": "چیزی پیدا نشد.",
    "list.empty": "تیکتی نیست.", "list.more": "بیشتر",
    "col.number": "#", "col.subject": "موضوع", "col.customer": "مشتری", "col.channel": "کانال",
    "col.status": "وضعیت", "col.priority": "اولویت", "col.updated": "آخرین پیام", "col.assignee": "مسئول",
    "offers.title": "پیشنهادها", "offer.ticket": "تیکت #{id}", "offer.accept": "قبول", "offer.reject": "رد",
    "offer.left": "{s} ثانیه مانده", "offer.expired": "منقضی شد", "offer.accepted": "تیکت #{id} با شماست.",
    "ticket.back": "بازگشت", "ticket.status": "وضعیت", "ticket.priority": "اولویت", "ticket.type": "نوع",
    "ticket.tags": "برچسب‌ها", "ticket.tags.hint": "با ویرگول جدا کنید", "ticket.save": "ذخیره",
    "ticket.assignee": "مسئول", "ticket.unassigned": "هیچ‌کس", "ticket.transfer": "انتقال",
    "ticket.transfer.to": "انتقال به", "ticket.transfer.note": "یادداشت برای کارشناس بعدی",
    "ticket.transfer.done": "منتقل شد.", "ticket.saved": "ذخیره شد.", "ticket.takeit": "به من بسپار",
    "ticket.viewing": "این‌جا هم هستند: {names}", "ticket.typing": "{name} در حال نوشتن است…",
    "ticket.channel": "کانال", "ticket.created": "ایجاد",
    "timeline.internal": "یادداشت داخلی", "timeline.customer": "مشتری", "timeline.agent": "کارشناس",
    "timeline.system": "سیستم", "timeline.event": "{actor}: {action}",
    "compose.reply": "پاسخ", "compose.note": "یادداشت داخلی",
    "compose.reply.placeholder": "به مشتری بنویسید (از راه {channel} فرستاده می‌شود). برای پاسخ آماده / بزنید.",
    "compose.note.placeholder": "فقط کارکنان می‌بینند. با @نام همکار را خبر کنید.",
    "compose.send": "ارسال  (Ctrl+Enter)", "compose.sendAs": "و تغییر وضعیت", "compose.keep": "وضعیت بماند",
    "compose.sent": "فرستاده شد.", "compose.noted": "یادداشت افزوده شد.", "compose.article": "پاسخ با مقاله: {title}",
    "canned.title": "پاسخ‌های آماده", "canned.none": "هنوز پاسخ آماده‌ای نیست.", "canned.insert": "درج",
    "canned.new": "پاسخ آماده تازه", "canned.shortcut": "میان‌بر", "canned.body": "متن",
    "canned.variables": "متغیرها: {vars}", "canned.shared": "برای همه تیم", "canned.save": "ذخیره",
    "kb.title": "مقاله‌های پیشنهادی", "kb.none": "مقاله‌ای به این تیکت نمی‌خورد.", "kb.insert": "درج مقاله",
    "kb.score": "امتیاز {score}",
    "customer.title": "مشتری", "customer.identities": "شناسه‌ها", "customer.organization": "سازمان",
    "customer.tier": "سطح", "customer.contracts": "قراردادها", "customer.contract.active": "فعال",
    "customer.contract.inactive": "غیرفعال", "customer.tickets": "تیکت‌های پیشین ({n})", "customer.none": "ندارد",
    "mention.toast": "{name} در تیکت #{id} به شما اشاره کرد", "mentions.none": "اشاره‌ای نیست.",
    "live.offline": "در حال اتصال دوباره…", "live.updated": "به‌روز شد",
    "error.generic": "خطا: {message}",
    "shortcuts.title": "میان‌برهای صفحه‌کلید", "shortcuts.close": "بستن",
    "sc.search": "جستجو", "sc.list": "صف من / بدون مسئول / همه باز", "sc.move": "تیکت بعدی / قبلی",
    "sc.open": "باز کردن تیکت", "sc.reply": "نوشتن پاسخ", "sc.note": "نوشتن یادداشت داخلی",
    "sc.send": "ارسال", "sc.accept": "قبول نخستین پیشنهاد", "sc.reject": "رد نخستین پیشنهاد",
    "sc.back": "بازگشت به فهرست", "sc.help": "همین راهنما",
    "status.new": "تازه", "status.open": "باز", "status.pending": "در انتظار مشتری", "status.on-hold": "معلق",
    "status.solved": "حل‌شده", "status.closed": "بسته",
    "priority.low": "کم", "priority.normal": "عادی", "priority.high": "زیاد", "priority.urgent": "فوری",
    "type.question": "پرسش", "type.incident": "رخداد", "type.problem": "مشکل", "type.task": "کار",
    "type.complaint": "شکایت",
    "wall.title": "تابلوی زنده", "wall.queues": "در انتظار", "wall.queue": "صف", "wall.skill": "مهارت",
    "wall.waiting": "در انتظار", "wall.longest": "بیشترین انتظار", "wall.agents": "کارشناسان", "wall.agent": "کارشناس",
    "wall.presence": "وضعیت", "wall.load": "بار کار", "wall.wrapup": "جمع‌بندی تا", "wall.atrisk": "در خطر",
    "wall.breached": "نقض‌شده", "wall.metric": "معیار", "wall.due": "مهلت", "wall.ticket": "تیکت",
    "wall.none": "هیچ.", "wall.generated": "به‌روزرسانی {time}", "wall.reassign": "واگذاری دوباره",
    "wall.raise": "افزایش اولویت", "wall.unavailable": "تابلوی زنده هنوز روی این سرور نیست.",
    "wall.breachedAgo": "{d} پیش نقض شد", "wall.dueIn": "{d} دیگر",
    "metric.first_response": "نخستین پاسخ", "metric.next_response": "پاسخ بعدی", "metric.resolution": "حل",
    "rep.title": "گزارش‌ها", "rep.since": "از", "rep.until": "تا", "rep.show": "نمایش", "rep.csv": "دریافت CSV",
    "rep.empty": "در این بازه داده‌ای نیست.", "rep.summary": "خلاصه", "rep.unavailable":
      "گزارش‌ها هنوز روی این سرور نیستند.",
    "rep.volume": "حجم", "rep.response-times": "زمان پاسخ", "rep.sla": "توافق سطح خدمت", "rep.complaints": "شکایت‌ها",
    "rep.satisfaction": "رضایت", "rep.deflection": "خودیاری", "rep.agents": "کارشناسان",
    "my.title": "تیکت‌های من", "my.signin": "پیوند ورود را برایم بفرست", "my.email": "نشانی ایمیل شما",
    "my.sent": "اگر این نشانی را بشناسیم، پیوند ورود فرستاده شد. یک بار و برای زمانی کوتاه کار می‌کند.",
    "my.none": "هنوز تیکتی ندارید.", "my.open": "باز کردن", "my.signout": "خروج",
    "my.contact": "برای ما بنویسید", "my.chat": "گفتگو با ما", "my.you": "شما",
    "kba.title": "پایگاه دانش", "kba.articles": "مقاله‌ها", "kba.new": "مقالهٔ تازه",
    "kba.phrasings": "پرسش‌های آموخته", "kba.all": "همه", "kba.filter": "جستجو در عنوان، دسته یا برچسب",
    "kba.none": "مقاله‌ای پیدا نشد.", "kba.col.title": "عنوان", "kba.language": "زبان", "kba.category": "دسته",
    "kba.status": "وضعیت", "kba.updated": "آخرین تغییر", "kba.tags": "برچسب‌ها (با ویرگول)",
    "kba.related": "شمارهٔ مقاله‌های مرتبط", "kba.body": "متن (Markdown)", "kba.preview": "پیش‌نمایش",
    "kba.phrasings.edit": "شکل‌های دیگر این پرسش (هر کدام در یک خط)",
    "kba.status.draft": "پیش‌نویس", "kba.status.internal": "درون‌سازمانی", "kba.status.published": "منتشرشده",
    "kba.lang.en": "انگلیسی", "kba.lang.fa": "فارسی", "kba.save": "ذخیره", "kba.publish": "انتشار",
    "kba.view": "دیدن در صفحهٔ راهنما", "kba.delete": "حذف", "kba.delete.confirm": "«{title}» با همهٔ نسخه‌هایش حذف شود؟",
    "kba.deleted": "حذف شد.", "kba.saved": "به‌عنوان نسخهٔ {version} ذخیره شد.", "kba.published": "منتشر شد.",
    "kba.version": "نسخهٔ {version}", "kba.history": "تاریخچه", "kba.current": "نسخهٔ کنونی", "kba.restore": "بازگرداندن",
    "kba.restored": "محتوای نسخهٔ {from} به‌عنوان نسخهٔ {version} بازگردانده شد.",
    "kba.phrasings.hint": "پرسش‌هایی از مشتریان که کارشناسان با یک مقاله پاسخ داده‌اند. با تأیید، پرسش به شکل‌های دیگر مقاله افزوده می‌شود تا جستجو مقاله را برای آن پیدا کند.",
    "kba.phrasings.none": "پرسشی در انتظار بررسی نیست.", "kba.question": "پرسش", "kba.article": "مقاله",
    "kba.ticket": "تیکت", "kba.approve": "تأیید", "kba.reject": "رد", "kba.approved": "به مقاله افزوده شد.",
    "kba.rejected": "رد شد.", "nav.knowledge": "پایگاه دانش",
  },
};

export const lang = CATALOG[document.documentElement.lang] ? document.documentElement.lang : "en";
export const rtl = document.documentElement.dir === "rtl";
const LOCALE = lang === "fa" ? "fa-IR-u-ca-persian" : "en-GB";

export function t(key, vars = {}) {
  const text = CATALOG[lang][key] ?? CATALOG.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

const dateTime = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium" });
const timeOnly = new Intl.DateTimeFormat(LOCALE, { timeStyle: "medium" });
const numbers = new Intl.NumberFormat(lang === "fa" ? "fa-IR" : "en-GB", { maximumFractionDigits: 2 });

export function formatDateTime(iso) {
  return iso ? dateTime.format(new Date(iso)) : "";
}

export function formatDate(iso) {
  return iso ? dateOnly.format(new Date(iso)) : "";
}

export function formatTime(date) {
  return timeOnly.format(date);
}

export function formatNumber(value) {
  return typeof value === "number" ? numbers.format(value) : String(value ?? "");
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const parts = [];
  const units = lang === "fa" ? ["روز", "ساعت", "دقیقه", "ثانیه"] : ["d", "h", "m", "s"];
  const values = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60];
  values.forEach((value, i) => {
    if (value && parts.length < 2) parts.push(lang === "fa" ? `${numbers.format(value)} ${units[i]}` : `${value}${units[i]}`);
  });
  return parts.length ? parts.join(" ") : (lang === "fa" ? `${numbers.format(0)} ${units[3]}` : "0s");
}

// The same page in the other language (the server remembers the choice in a cookie).
export function otherLanguageHref() {
  const url = new URL(location.href);
  url.searchParams.set("lang", lang === "fa" ? "en" : "fa");
  return url.pathname + url.search + url.hash;
}
