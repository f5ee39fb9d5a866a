"""Who a usage row's identity is: the one rule ingest and re-attribution share (DESIGN rule 5)."""

# The engineer the joins below found: the identity map first, then the email, then the login.
ENGINEER_OF = "COALESCE(vi.engineer_id, e.id, g.id)"


def identity_joins(alias: str) -> str:
    """LEFT JOINs that find the engineer of `alias`'s (vendor, identity_kind, identity_value).
    Two equi-joins for email and login, not one OR-join: an OR condition forces a nested loop
    (rows x engineers)."""
    return f"""
LEFT JOIN usage_vendoridentity vi
       ON vi.vendor = {alias}.vendor AND vi.kind = {alias}.identity_kind AND vi.external_id = {alias}.identity_value
LEFT JOIN usage_engineer e
       ON {alias}.identity_kind = 'email' AND lower(e.email) = lower({alias}.identity_value)
LEFT JOIN usage_engineer g
       ON {alias}.identity_kind = 'github_login' AND lower(g.github_login) = lower({alias}.identity_value)
      AND g.github_login <> ''
"""
