"""Short documents in Japanese and English, and questions that find them only by meaning or
across languages (no keyword in common): shared by the multilingual search and coverage tests."""

DOCUMENTS = {
    "room.txt": "会議室の予約は社内ポータルから前日までに行う必要があります。",
    "backup.txt": "サーバーのバックアップは毎晩午前二時に自動的に実行され、"
    "データは三十日間保管されます。",
    "onboarding.txt": "新入社員は入社初日に人事部で健康保険の加入手続きを行ってください。",
    "coolant.txt": "工作機械の冷却水が過熱した場合は、直ちに主軸を停止してください。",
    "remote.txt": "Employees may work from home up to three days per week with their "
    "manager's approval.",
    "pump.txt": "The coolant pump must be inspected every month and replaced after 5,000 "
    "hours of use.",
    "expenses.txt": "Expense reports are reimbursed within ten business days after approval.",
    # Japanese text with English words in it: EN_TO_JA's keywords (server, long) match here,
    # not in its answer (backup.txt); its meaning is elsewhere.
    "badges.txt": "Server Room の入室カードは総務部で発行します。"
    "Long Term Care 保険の資料も総務部にあります。",
}
# "Book a room for a meeting: by when must I apply?" in other words than room.txt's: not one
# keyword (as the sparse index reads them) in common.
PARAPHRASE = "打ち合わせ用の部屋を押さえたいのですが、いつまでに申し込めばよいですか"
EN_TO_JA = "When are the server backups made, and how long are they kept?"
JA_TO_EN = "在宅勤務は週に何日まで認められていますか"
