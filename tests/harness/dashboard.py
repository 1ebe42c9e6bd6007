"""Dashboard steps shared by browser tests."""


def log_in(page, merchant):
    page.goto("/login")
    page.fill("input[name=email]", merchant["email"])
    page.fill("input[name=password]", merchant["password"])
    page.click("button[type=submit]")
