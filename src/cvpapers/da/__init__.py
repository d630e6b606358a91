"""Routines shared by the domain-adaptation pipelines ssda_dual_mix, msda_collab and mtda_collab."""
