"""The road-transport security toolkit: guidance content and the logic of checklists, assessments and screening."""
